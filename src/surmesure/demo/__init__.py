"""The demo shop: a synthetic shop generator with a documented latent model, and a small
storefront that sends events through the JS tracker. Composition level: may import
any capability's service."""
