"""Decisions: what a placement shows to whom, and why (PRODUCT.md capabilities 7, 9, 11).

What it does
------------
* ``domain`` — placements (a slot on a channel, content variants, targeting, priority,
  fallback, frequency caps) and experiments (A/B/n with a holdout, Thompson bandits)
  as validated data.
* ``render`` — templates in Jinja2's immutable sandbox, with limits.
* ``caps`` — frequency caps at decision time, the one mechanism later journeys and
  campaigns share.
* ``service`` — ``decide``: person and consent → caps → experiment arm (sticky through
  merges) → targeting → content → the decision log with its propensity.
* ``results`` — attribution of impression, click and conversion events by
  ``properties.decision_id`` at read time, and per-arm statistics.
* ``apply`` — segments, placements and experiments from one YAML/JSON document.

What it may import
------------------
The foundation, consent, catalog (its service), events (its service), profiles (its
service), segments (definitions, the evaluator, the service), experiments (the pure
core) and recommendations (its service); never another capability's store or api.
"""
