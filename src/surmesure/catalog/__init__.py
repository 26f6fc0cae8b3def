"""Catalogue: products, articles and offers with their attributes; batch upsert and
CSV/JSONL import. May import: the foundation only (errors, config, clock, db, deps, http).

``domain`` (ItemIn/ItemPublic, to_row/from_row) · ``errors`` · ``store`` (the ``items``
table and its queries) · ``files`` (CSV/JSON record readers) · ``service`` (upsert,
reads, import_file: the face to the rest of the code) · ``api`` · ``cli``.
"""
