"""The feature vector a contextual bandit decides on: pure, deterministic, documented.

``x[0]`` is the intercept (always 1); then one coordinate per declared feature, in the
order of the definition:

* the value at the feature's path — ``traits.*`` (the profile's traits),
  ``features.*`` (the profile's features as ``segments.evaluate.feature_view`` reads
  them at decision time) or ``segments.<id>`` (the stored membership value);
* encoded as a number: ``true`` 1, ``false`` 0, a finite number as is, anything else
  (missing, text, null, a list) 0; with ``eq``, 1 when the value equals it (a boolean
  only equals a boolean) else 0; with ``transform: log1p``, ``log(1 + max(v, 0))``;
* clipped to ``[-1e6, 1e6]``.

Without consent to personalization, or for nobody known, every coordinate but the
intercept is 0 (no profile feature is read).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from surmesure.decisions.domain import ContextFeature

__all__ = ["LIMIT", "encode", "names"]

LIMIT = 1e6
_MISSING = object()


def names(features: Sequence[ContextFeature]) -> list[str]:
    """What each coordinate is, as logged with every decision."""
    return ["intercept", *(f.name for f in features)]


def _lookup(root: Any, parts: Sequence[str]) -> Any:
    value = root
    for part in parts:
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _same(value: Any, wanted: Any) -> bool:
    if isinstance(value, bool) or isinstance(wanted, bool):
        return isinstance(value, bool) and isinstance(wanted, bool) and value == wanted
    return bool(value == wanted) if type(value) in (str, int, float) else False


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return 0.0


def encode(
    features: Sequence[ContextFeature],
    traits: Mapping[str, Any],
    view: Mapping[str, Any],
    memberships: Mapping[str, Any],
) -> list[float]:
    """The vector of one person: ``traits``, the feature ``view``, segment ``memberships``
    (segment id → stored value). Empty mappings give the intercept and zeros."""
    x = [1.0]
    for feature in features:
        root, *rest = feature.parts()
        source = traits if root == "traits" else view if root == "features" else memberships
        value = _lookup(source, rest)
        if feature.eq is not None:
            v = 1.0 if _same(value, feature.eq) else 0.0
        else:
            v = _number(value)
            if feature.transform == "log1p":
                v = math.log1p(max(v, 0.0))
        x.append(min(max(v, -LIMIT), LIMIT))
    return x
