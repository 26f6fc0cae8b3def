"""Segments: who is in which segment, weighted scores and personas, from conditions
that are data (``rules.py``), evaluated by a pure evaluator (``evaluate.py``) in the
pipeline as events arrive and in batch (``service.py``); definitions from the API or a
YAML file (``definitions.py``).

Imports: the foundation, consent, the events service (a person's events) and the
profiles service (lookup by identifier, the features summary); profile rows come
through a ``ProfileSource`` the composition supplies, never from the profiles' tables.
"""
