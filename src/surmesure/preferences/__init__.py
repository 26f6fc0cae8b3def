"""The preference centre: a person's consent per purpose (read, recorded through
ingestion, by the secret key, the visitor's own write key or a signed link), the
signed links themselves (ADR 0010), and "why am I seeing this" — their latest decisions
and recommendation answers explained in plain words.

* ``links`` — sign and check expiring HMAC links (pure).
* ``why`` — decision and answer rows to sentences (pure).
* ``service`` — ``Preferences``: consent, record, link, why.
* ``api`` — the JSON routes; ``web`` — the pages (Jinja2, autoescaped, no JavaScript).

May import: the foundation, access, consent, catalog, events and profiles (their
services), recommendations and decisions (their ``rights`` readers of the logs).
"""
