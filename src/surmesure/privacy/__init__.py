"""Data-subject rights and retention: export everything linked to a person (GDPR art.
15 and 20), erase it from every table, cache and model (art. 17) so that it does not
come back with a replay, verify an erasure with a canary, and purge what is past its
retention.

Privacy sits above the capabilities it reaches (events, profiles, segments,
recommendations, decisions): each of them owns its tables and exposes
``export_person``/``erase_person`` (and ``purge``) in its ``rights`` module; the list of
those handlers is in ``registry.py``, checked against the schema by a test. Imported by
the composition (pipeline, app, cli) only.
"""
