"""Errors of the recommender core.

Each has a stable ``code``, listed in ``docs/errors.md``::

    Conflict
    ├── NotFittedError         409  recommendations.not_fitted       model used before ``fit``/``load``
    ├── NoModel                409  recommendations.no_model         the server has no trained model yet
    └── NothingToTrain         409  recommendations.nothing_to_train no items in the catalogue nor the events
    InvalidInput
    ├── InvalidModelFile       422  recommendations.invalid_model_file  not a model file, or another class
    └── InvalidRequest         422  recommendations.invalid_request  a context without what it needs...
    NotFound
    └── UnknownItem            404  recommendations.unknown_item     the item asked about is not in the model
"""

from __future__ import annotations

from surmesure.errors import Conflict, InvalidInput, NotFound

__all__ = ["InvalidModelFile", "InvalidRequest", "NoModel", "NotFittedError", "NothingToTrain", "UnknownItem"]


class NotFittedError(Conflict):
    """The model was used (``recommend``, ``save``...) before ``fit`` or ``load``."""

    code = "recommendations.not_fitted"


class InvalidModelFile(InvalidInput):
    """A model file is missing its sidecar, has an unknown format, or holds another class."""

    code = "recommendations.invalid_model_file"


class NoModel(Conflict):
    """Recommendations were asked for before any model was trained (``surmesure train``)."""

    code = "recommendations.no_model"


class InvalidRequest(InvalidInput):
    """A well-formed request that cannot be answered as asked (``context=item`` without
    ``item_id``, a price range upside down, two identifiers...)."""

    code = "recommendations.invalid_request"


class UnknownItem(NotFound):
    """The item of ``context=item`` is not among the current model's items."""

    code = "recommendations.unknown_item"


class AlgorithmNotInModel(Conflict):
    """``algorithm`` names a part of the hybrid that the current model was trained without
    (e.g. ``als``, whose blend weight is 0 by default)."""

    code = "recommendations.algorithm_not_in_model"


class TrainingDiscarded(Conflict):
    """A person was erased while the training was reading the store: the version may hold
    them, so it is deleted instead of served (the erasure's own retraining follows)."""

    code = "recommendations.training_discarded"


class NothingToTrain(Conflict):
    """Training found no item: the catalogue is empty and no event names a product."""

    code = "recommendations.nothing_to_train"
