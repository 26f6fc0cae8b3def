"""The estimator interface every model shares, in the scikit-learn / ``implicit`` style.

* ``__init__`` takes keyword-only hyper-parameters and only stores them;
* ``fit(user_items, ...)`` learns, sets attributes ending in ``_`` and returns ``self``;
* ``recommend(userid, user_items, N, filter_already_liked_items, filter_items,
  recalculate_user, items)`` has exactly the signature and meaning of
  ``implicit.recommender_base.RecommenderBase.recommend``: ``userid`` an int (1-D
  results) or an array (2-D results, rows padded with id -1 and score -FLT_MAX);
  ``user_items`` has one row per user asked for — that user's interactions;
* ``save(path)`` writes ``path.npz`` (the learned arrays, loaded with
  ``allow_pickle=False``) and ``path.json`` (format, class, hyper-parameters,
  scalars); ``load(path)`` reads them back. Never pickle (ADR 0006).

A subclass implements ``fit`` and ``_scores`` (dense scores of every item for the rows
of ``user_items``), and ``_similar`` if ``similar_items`` makes sense for it.
"""

from __future__ import annotations

import inspect
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

from ..errors import InvalidModelFile, NotFittedError

__all__ = ["FORMAT", "Recommender", "load_model", "model_paths"]

FORMAT = "surmesure.model/1"
_MIN_SCORE = -np.finfo(np.float32).max
_REGISTRY: dict[str, type[Recommender]] = {}

Scores = npt.NDArray[np.float32]
Ids = npt.NDArray[np.int32]
Rows = npt.NDArray[np.intp]


def model_paths(path: str | Path) -> tuple[Path, Path]:
    """The two files of a saved model: ``X.npz`` (arrays) and ``X.json`` (the rest)."""
    p = Path(path)
    if p.suffix in (".npz", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".npz"), p.with_name(p.name + ".json")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


class Recommender(ABC):
    """Base of every model; see the module docstring for the contract."""

    #: the learned attribute whose presence means "fitted"
    _fitted_attr: ClassVar[str] = "n_items_"
    n_items_: int

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not inspect.isabstract(cls):
            _REGISTRY[cls.__name__] = cls

    # -- hyper-parameters ------------------------------------------------------------

    @classmethod
    def _param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values() if p.kind is p.KEYWORD_ONLY]

    def get_params(self) -> dict[str, Any]:
        """The hyper-parameters, as ``__init__`` took them."""
        return {name: getattr(self, name) for name in self._param_names()}

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    # -- fitting ---------------------------------------------------------------------

    @abstractmethod
    def fit(self, user_items: csr_matrix) -> Self:
        """Learn from a usersxitems CSR matrix of interaction weights; returns self."""

    def is_fitted(self) -> bool:
        return hasattr(self, self._fitted_attr)

    def _check_fitted(self) -> None:
        if not self.is_fitted():
            raise NotFittedError(
                f"{type(self).__name__} is used before fit or load", model=type(self).__name__
            )

    @staticmethod
    def _check_matrix(user_items: Any) -> csr_matrix:
        if not isinstance(user_items, csr_matrix):
            raise ValueError("user_items needs to be a CSR sparse matrix")
        return user_items

    # -- scoring ---------------------------------------------------------------------

    @abstractmethod
    def _scores(self, userids: Rows, user_items: csr_matrix, recalculate_user: bool) -> Scores:
        """Dense scores (len(userids), n_items_) for the rows of ``user_items``."""

    def _similar(self, itemids: npt.NDArray[np.intp]) -> Scores:
        raise NotImplementedError(f"{type(self).__name__} has no item-to-item similarity")

    def recommend(
        self,
        userid: int | npt.ArrayLike,
        user_items: csr_matrix,
        N: int = 10,
        filter_already_liked_items: bool = True,
        filter_items: npt.ArrayLike | None = None,
        recalculate_user: bool = False,
        items: npt.ArrayLike | None = None,
    ) -> tuple[Ids, Scores]:
        """Top-``N`` items for one user or a batch of users.

        Parameters
        ----------
        userid : int or array_like
            The user index (1-D results) or an array of them (2-D results).
        user_items : csr_matrix
            One row per user asked for: that user's interactions (weights). Models
            that score from interactions (all but ALS) work for users unknown at fit.
        N : int, default 10
            Number of results.
        filter_already_liked_items : bool, default True
            Leave out the items present in the user's row.
        filter_items : array_like, optional
            Item indices never returned.
        recalculate_user : bool, default False
            Factor models: recompute the user from ``user_items`` instead of the stored
            user factors (always the case for the other models).
        items : array_like, optional
            Rank only these item indices (cannot be combined with ``filter_items``).

        Returns
        -------
        (ndarray of int32, ndarray of float32)
            Item indices and scores, best first.
        """
        self._check_fitted()
        matrix = self._check_matrix(user_items)
        scalar = bool(np.isscalar(userid))
        users = np.atleast_1d(np.asarray(userid)).astype(np.intp)
        if matrix.shape[0] != len(users):
            raise ValueError("user_items must contain 1 row for every user in userids")
        if matrix.shape[1] != self.n_items_:
            raise ValueError(f"user_items has {matrix.shape[1]} columns, the model {self.n_items_} items")
        if filter_items is not None and items is not None:
            raise ValueError("Can't specify both filter_items and items")
        scores = np.array(self._scores(users, matrix, recalculate_user), dtype=np.float32)
        if filter_already_liked_items:
            rows = np.repeat(np.arange(len(users)), np.diff(matrix.indptr))
            scores[rows, matrix.indices] = -np.inf
        if filter_items is not None:
            scores[:, np.asarray(filter_items, dtype=np.intp)] = -np.inf
        candidates = np.arange(self.n_items_)
        if items is not None:
            candidates = _sorted_unique(items)
            if candidates.size and (candidates.min() < 0 or candidates.max() >= self.n_items_):
                raise IndexError("Some itemids in the items parameter are not in the model")
            scores = scores[:, candidates]
        positions, top = _topk(scores, min(N, scores.shape[1]))
        ids: Ids = candidates[positions].astype(np.int32)
        if scalar:
            valid = top[0] > -np.inf
            return ids[0][valid], top[0][valid]
        padded: Ids = np.where(top > -np.inf, ids, -1).astype(np.int32)
        return padded, np.where(top > -np.inf, top, _MIN_SCORE).astype(np.float32)

    def similar_items(
        self,
        itemid: int | npt.ArrayLike,
        N: int = 10,
        filter_items: npt.ArrayLike | None = None,
        items: npt.ArrayLike | None = None,
    ) -> tuple[Ids, Scores]:
        """The ``N`` items most similar to ``itemid`` (itself excluded), best first."""
        self._check_fitted()
        scalar = bool(np.isscalar(itemid))
        query = np.atleast_1d(np.asarray(itemid)).astype(np.intp)
        if query.size and (query.min() < 0 or query.max() >= self.n_items_):
            raise IndexError("itemid is not in the model")
        scores = np.array(self._similar(query), dtype=np.float32)
        scores[np.arange(len(query)), query] = -np.inf
        if filter_items is not None:
            scores[:, np.asarray(filter_items, dtype=np.intp)] = -np.inf
        candidates = np.arange(self.n_items_)
        if items is not None:
            candidates = _sorted_unique(items)
            scores = scores[:, candidates]
        ids, top = _topk(scores, min(N, scores.shape[1]))
        found = candidates[ids].astype(np.int32)
        if scalar:
            valid = top[0] > -np.inf
            return found[0][valid], top[0][valid]
        return (
            np.where(top > -np.inf, found, -1).astype(np.int32),
            np.where(top > -np.inf, top, _MIN_SCORE).astype(np.float32),
        )

    # -- files -----------------------------------------------------------------------

    def _state(self, prefix: str = "") -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
        """Learned arrays (for the .npz) and the JSON description of this model."""
        arrays: dict[str, npt.NDArray[Any]] = {}
        meta: dict[str, Any] = {
            "class": type(self).__name__,
            "params": _jsonable(self.get_params()),
            "scalars": {},
            "sparse": [],
            "components": {},
        }
        params = set(self._param_names())
        for name, value in sorted(vars(self).items()):
            if not name.endswith("_") or name.startswith("_") or name in params:
                continue
            key = f"{prefix}{name}"
            if isinstance(value, np.ndarray):
                if value.dtype == object:
                    raise TypeError(f"{key}: object arrays would need pickle")
                arrays[key] = value
            elif isinstance(value, csr_matrix):
                for part in ("data", "indices", "indptr"):
                    arrays[f"{key}.{part}"] = getattr(value, part)
                arrays[f"{key}.shape"] = np.asarray(value.shape, dtype=np.int64)
                meta["sparse"].append(name)
            elif isinstance(value, Recommender):
                sub_arrays, sub_meta = value._state(f"{key}/")
                arrays.update(sub_arrays)
                meta["components"][name] = sub_meta
            elif isinstance(value, (bool, int, float, str, np.generic)) or value is None:
                meta["scalars"][name] = _jsonable(value)
            else:
                raise TypeError(f"{key}: {type(value).__name__} cannot be saved without pickle")
        return arrays, meta

    def save(self, path: str | Path) -> None:
        """Write ``path.npz`` and ``path.json`` (a ``.npz``/``.json`` suffix is dropped)."""
        self._check_fitted()
        npz, sidecar = model_paths(path)
        arrays, meta = self._state()
        meta = {"format": FORMAT, **meta}
        payload: dict[str, Any] = arrays
        with npz.open("wb") as f:
            np.savez(f, **payload)
        sidecar.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    @classmethod
    def _restore(
        cls, meta: Mapping[str, Any], data: Mapping[str, npt.NDArray[Any]], prefix: str
    ) -> Recommender:
        name = meta.get("class")
        target = _REGISTRY.get(str(name))
        if target is None:
            raise InvalidModelFile(f"unknown model class {name!r}", model_class=name)
        model = target(**meta.get("params", {}))
        for attr, value in meta.get("scalars", {}).items():
            setattr(model, attr, value)
        sparse = set(meta.get("sparse", []))
        for attr in sparse:
            key = f"{prefix}{attr}"
            shape = tuple(int(x) for x in data[f"{key}.shape"])
            parts = (data[f"{key}.data"], data[f"{key}.indices"], data[f"{key}.indptr"])
            setattr(model, attr, csr_matrix(parts, shape=shape))
        for key, value in data.items():
            if key.startswith(prefix) and "/" not in key[len(prefix) :] and "." not in key[len(prefix) :]:
                setattr(model, key[len(prefix) :], value)
        for attr, sub_meta in meta.get("components", {}).items():
            setattr(model, attr, cls._restore(sub_meta, data, f"{prefix}{attr}/"))
        return model

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a model written by :meth:`save`; on a subclass, the file must hold that class."""
        npz, sidecar = model_paths(path)
        try:
            meta = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise InvalidModelFile(f"cannot read the model description {sidecar}: {error}") from error
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise InvalidModelFile(f"{sidecar} is not a {FORMAT} file")
        if cls is not Recommender and meta.get("class") != cls.__name__:
            raise InvalidModelFile(
                f"{sidecar} holds a {meta.get('class')}, not a {cls.__name__}",
                expected=cls.__name__,
                found=meta.get("class"),
            )
        try:
            with np.load(npz, allow_pickle=False) as data:
                model = cls._restore(meta, {k: data[k] for k in data.files}, "")
        except (OSError, ValueError, KeyError) as error:
            raise InvalidModelFile(f"cannot read the model arrays {npz}: {error}") from error
        assert isinstance(model, cls)
        return model


def load_model(path: str | Path) -> Recommender:
    """Load any saved model, whatever its class."""
    return Recommender.load(path)


def _sorted_unique(items: npt.ArrayLike) -> npt.NDArray[np.intp]:
    """``np.unique(items)``, without its sort when the items are increasing already (the
    columns a mask lets through: ``np.flatnonzero``)."""
    values = np.asarray(items, dtype=np.intp).reshape(-1)
    if values.size < 2 or bool(np.all(values[1:] > values[:-1])):
        return values
    return np.unique(values)


def _topk(scores: Scores, n: int) -> tuple[npt.NDArray[np.intp], Scores]:
    """Per row, the ``n`` best columns, best first (ties: the lower index first)."""
    rows, cols = scores.shape
    if n <= 0 or cols == 0:
        return np.zeros((rows, 0), dtype=np.intp), np.zeros((rows, 0), dtype=np.float32)
    if rows == 1 and cols >= 64 * n:  # one person (serving): no selection over the catalogue
        row = scores[0]
        # the n-th best of every 16th item bounds the n-th best of all from below: only
        # the items at or above it (a few hundred at most, usually) need ranking
        sample = row[::16]
        bound = np.partition(sample, sample.size - n)[sample.size - n]
        candidates = np.flatnonzero(row >= bound)
        if candidates.size <= 4096:
            best = candidates[np.lexsort((candidates, -row[candidates]))[:n]]
            return best[np.newaxis, :].astype(np.intp), row[best][np.newaxis, :]
    if n < cols:
        part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    else:
        part = np.broadcast_to(np.arange(cols), (rows, cols)).copy()
    part.sort(axis=1)  # ties break on the index, whatever argpartition did
    values = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    ids = np.take_along_axis(part, order, axis=1)
    return ids, np.take_along_axis(values, order, axis=1)
