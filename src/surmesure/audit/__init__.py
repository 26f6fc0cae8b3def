"""Audits of what personalization did: fairness by protected attribute, and the
filter-bubble monitor (docs/audit.md).

Reads the decision log (``decisions``, ``exposures``), segment membership, profiles'
traits and the events that report what was shown; never writes them. Protected
attributes (``audit.protected``) are read here only: targeting rules that name them are
refused when defined (``segments.protected_attribute``).

May import: decisions (``service``, ``results``), recommendations (``catalogue``,
``evaluate``), experiments (``stats``), segments, profiles and events (their
``service``), and the foundation.
"""
