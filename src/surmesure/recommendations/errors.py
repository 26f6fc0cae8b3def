"""Errors of the recommender core.

Each has a stable ``code``, listed in ``docs/errors.md``::

    Conflict
    └── NotFittedError         409  recommendations.not_fitted       model used before ``fit``/``load``
    InvalidInput
    └── InvalidModelFile       422  recommendations.invalid_model_file  not a model file, or another class
"""

from __future__ import annotations

from surmesure.errors import Conflict, InvalidInput

__all__ = ["InvalidModelFile", "NotFittedError"]


class NotFittedError(Conflict):
    """The model was used (``recommend``, ``save``...) before ``fit`` or ``load``."""

    code = "recommendations.not_fitted"


class InvalidModelFile(InvalidInput):
    """A model file is missing its sidecar, has an unknown format, or holds another class."""

    code = "recommendations.invalid_model_file"
