"""The recommenders, one estimator interface (``base.Recommender``): keyword-only
hyper-parameters, ``fit(user_items) -> self``, learned attributes ending in ``_``,
``recommend``/``similar_items`` with ``implicit``'s signatures, ``save``/``load`` as
``.npz`` + JSON. ``Hybrid`` is the default model."""

from __future__ import annotations

from .als import ALS
from .base import FORMAT, Recommender, load_model, model_paths
from .content import ContentBased
from .cooccurrence import ItemCooccurrence
from .ease import EASE
from .hybrid import DEFAULT_BLEND, Hybrid
from .popularity import Popularity
from .private import PrivateEASE
from .session import SessionKNN

__all__ = [
    "ALS",
    "DEFAULT_BLEND",
    "EASE",
    "FORMAT",
    "ContentBased",
    "Hybrid",
    "ItemCooccurrence",
    "Popularity",
    "PrivateEASE",
    "Recommender",
    "SessionKNN",
    "load_model",
    "model_paths",
]
