"""Consent: purposes, the consent an event carries, Global Privacy Control, IP minimization;
``pseudonym``: keyed pseudonyms of identifiers and the minimization of undeclared fields.

Pure functions over plain data; imports only the foundation. Enforcement at
collection lives in ``events``, at decision time in ``decisions``.
"""

from surmesure.consent.domain import (
    PURPOSES,
    ConsentState,
    consent_from_context,
    effective_consent,
    minimize_ip,
)

__all__ = ["PURPOSES", "ConsentState", "consent_from_context", "effective_consent", "minimize_ip"]
