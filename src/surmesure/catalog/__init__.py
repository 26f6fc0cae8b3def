"""Catalogue: products, articles and offers with their attributes; batch upsert and
CSV/JSONL import. May import: the foundation only."""
