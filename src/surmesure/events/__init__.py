"""Events: the Segment-compatible collection API, validation, quarantine, dedup by
messageId, group commit and the outbox the pipeline reads.

May import: the foundation, ``access``, ``consent``.
"""
