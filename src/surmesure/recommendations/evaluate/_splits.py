"""Interaction arrays and the ways to split them into what a model learns from and
what it is judged on.

* :func:`temporal_split` — one global cut time: train on everything before, test on
  everything after (no model ever sees the future; the protocol closest to serving).
* :func:`leave_last_out` — per person, the last interaction (or the last basket, or
  the last day) is held out; the rest is train. Other people's later events stay in
  train, so it leaks a little future; it tests many more people on sparse data.
* :func:`validation_split` — the same protocol applied again to a split's train
  part, to tune hyper-parameters without touching the test.

Relevance is binary: the distinct items a test person interacted with in the test
part. With ``new_items_only`` (the default) items that person already had in train
are not relevant, and the models are then asked to filter what the person already
liked (``filter_already_liked_items=True``); with ``new_items_only=False`` repeat
purchases count and nothing is filtered. Ties in time are broken by a seeded
permutation, so a split is a function of its data and its seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix, csr_matrix

from surmesure.errors import InvalidInput

__all__ = [
    "Interactions",
    "Split",
    "SplitSpec",
    "leave_last_out",
    "temporal_split",
    "train_times",
    "validation_split",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float32]
Unit = Literal["interaction", "basket", "day"]
DAY_MS = 86_400_000


def _ints(values: npt.ArrayLike) -> IntArray:
    return np.ascontiguousarray(np.asarray(values, dtype=np.int64).ravel())


@dataclass(frozen=True, eq=False)
class Interactions:
    """Aligned arrays, one entry per event: person index, item index, weight, time (ms).

    ``basket`` (optional) groups events into orders; ``n_users``/``n_items`` are the
    matrix shape (indices must be below them).
    """

    user: IntArray
    item: IntArray
    weight: FloatArray
    time_ms: IntArray
    n_users: int
    n_items: int
    basket: IntArray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "user", _ints(self.user))
        object.__setattr__(self, "item", _ints(self.item))
        object.__setattr__(self, "time_ms", _ints(self.time_ms))
        object.__setattr__(self, "weight", np.asarray(self.weight, dtype=np.float32).ravel())
        if self.basket is not None:
            object.__setattr__(self, "basket", _ints(self.basket))
        n = self.user.size
        sizes = {self.item.size, self.weight.size, self.time_ms.size}
        if self.basket is not None:
            sizes.add(self.basket.size)
        if sizes != {n}:
            raise InvalidInput("interaction arrays must have the same length", lengths=sorted(sizes | {n}))
        if n and (self.user.min() < 0 or self.user.max() >= self.n_users):
            raise InvalidInput("user indices must be in [0, n_users)", n_users=self.n_users)
        if n and (self.item.min() < 0 or self.item.max() >= self.n_items):
            raise InvalidInput("item indices must be in [0, n_items)", n_items=self.n_items)

    @classmethod
    def from_arrays(
        cls,
        user: npt.ArrayLike,
        item: npt.ArrayLike,
        weight: npt.ArrayLike | None = None,
        time_ms: npt.ArrayLike | None = None,
        *,
        n_users: int | None = None,
        n_items: int | None = None,
        basket: npt.ArrayLike | None = None,
    ) -> Interactions:
        """Weights default to 1, times to 0, the shape to the largest index + 1."""
        users, items = _ints(user), _ints(item)
        return cls(
            user=users,
            item=items,
            weight=np.ones(users.size, np.float32) if weight is None else np.asarray(weight, np.float32),
            time_ms=np.zeros(users.size, np.int64) if time_ms is None else _ints(time_ms),
            n_users=int(users.max(initial=-1)) + 1 if n_users is None else n_users,
            n_items=int(items.max(initial=-1)) + 1 if n_items is None else n_items,
            basket=None if basket is None else _ints(basket),
        )

    def __len__(self) -> int:
        return int(self.user.size)

    def subset(self, mask: npt.NDArray[np.bool_]) -> Interactions:
        """The events where ``mask`` is true, same shape."""
        return replace(
            self,
            user=self.user[mask],
            item=self.item[mask],
            weight=self.weight[mask],
            time_ms=self.time_ms[mask],
            basket=None if self.basket is None else self.basket[mask],
        )

    def to_csr(self, *, binary: bool = False) -> csr_matrix:
        """The userxitem matrix (float32): weights of repeated pairs are summed, or 1."""
        data = np.ones(len(self), np.float32) if binary else self.weight
        matrix = coo_matrix((data, (self.user, self.item)), shape=(self.n_users, self.n_items)).tocsr()
        matrix.sum_duplicates()
        if binary:
            matrix.data[:] = 1.0
        return csr_matrix(matrix, dtype=np.float32)


@dataclass(frozen=True)
class SplitSpec:
    """How a split was made, so that :func:`validation_split` can make it again."""

    kind: Literal["temporal", "leave_last_out"]
    test_fraction: float = 0.2
    cut_ms: int | None = None
    unit: Unit = "interaction"
    keep_cold_users: bool = False
    new_items_only: bool = True
    min_train_interactions: int = 1
    max_test_users: int | None = None
    seed: int = 0

    def apply(self, data: Interactions) -> Split:
        if self.kind == "temporal":
            return temporal_split(
                data,
                test_fraction=self.test_fraction,
                cut_ms=self.cut_ms,
                keep_cold_users=self.keep_cold_users,
                new_items_only=self.new_items_only,
                min_train_interactions=self.min_train_interactions,
                max_test_users=self.max_test_users,
                seed=self.seed,
            )
        return leave_last_out(
            data,
            unit=self.unit,
            new_items_only=self.new_items_only,
            min_train_interactions=self.min_train_interactions,
            max_test_users=self.max_test_users,
            seed=self.seed,
        )


@dataclass(frozen=True, eq=False)
class Split:
    """``train`` (summed weights) and ``test`` (binary relevance), both usersxitems.

    ``users`` are the people judged: each has at least one relevant item in ``test``.
    ``filter_seen`` is what evaluation passes as ``filter_already_liked_items``.
    """

    train: csr_matrix
    test: csr_matrix
    users: IntArray
    train_data: Interactions
    test_data: Interactions
    spec: SplitSpec
    stats: dict[str, int | float] = field(default_factory=dict)

    @property
    def filter_seen(self) -> bool:
        return self.spec.new_items_only

    def describe(self) -> str:
        s = self.spec
        if s.kind == "temporal":
            cut = datetime.fromtimestamp(int(self.stats["cut_ms"]) / 1000, UTC)
            how = f"temporal, cut at {cut:%Y-%m-%d %H:%M} UTC"
        else:
            how = f"leave-last-{s.unit}-out"
        return (
            f"{how}; {self.train.nnz} train pairs, {len(self.users)} test users, "
            f"{self.test.nnz} relevant pairs ({'new items only' if s.new_items_only else 'repeats count'})"
        )


def _tiebreak_order(data: Interactions, seed: int) -> IntArray:
    """Events sorted by person, then time, ties broken by a seeded permutation."""
    noise = np.random.default_rng(seed).permutation(len(data))
    return np.lexsort((noise, data.time_ms, data.user)).astype(np.int64)


def _finish(
    data: Interactions,
    train_mask: npt.NDArray[np.bool_],
    test_mask: npt.NDArray[np.bool_],
    eligible: npt.NDArray[np.bool_],
    spec: SplitSpec,
    stats: dict[str, int | float],
) -> Split:
    """Build the matrices; relevance is restricted to ``eligible`` people (a bool per user)."""
    train_data = data.subset(train_mask)
    test_data = data.subset(test_mask & eligible[data.user])
    train = train_data.to_csr()
    test = test_data.to_csr(binary=True)
    if spec.new_items_only:
        # drop relevant pairs the person already had in train
        known = train.astype(bool).multiply(test.astype(bool))
        test = csr_matrix(test - known.astype(np.float32), dtype=np.float32)
        test.eliminate_zeros()
    users = np.flatnonzero(np.diff(test.indptr) > 0).astype(np.int64)
    if spec.max_test_users is not None and users.size > spec.max_test_users:
        rng = np.random.default_rng(spec.seed)
        users = np.sort(rng.choice(users, size=spec.max_test_users, replace=False)).astype(np.int64)
        keep = np.zeros(data.n_users, dtype=bool)
        keep[users] = True
        test = csr_matrix(test.multiply(keep[:, None]), dtype=np.float32)
        test.eliminate_zeros()
    stats = {
        **stats,
        "train_events": len(train_data),
        "test_events": len(test_data),
        "test_users": len(users),
    }
    return Split(train, test, users, train_data, test_data, spec, stats)


def temporal_split(
    data: Interactions,
    *,
    test_fraction: float = 0.2,
    cut_ms: int | None = None,
    keep_cold_users: bool = False,
    new_items_only: bool = True,
    min_train_interactions: int = 1,
    max_test_users: int | None = None,
    seed: int = 0,
) -> Split:
    """Train on events before ``cut_ms``, test on the rest.

    Without ``cut_ms`` the cut is the time that leaves about ``test_fraction`` of the
    events after it. People tested must have ``min_train_interactions`` events in train
    unless ``keep_cold_users``; ``max_test_users`` samples them (seeded).
    """
    if len(data) == 0:
        raise InvalidInput("cannot split an empty set of interactions")
    if cut_ms is None:
        if not 0.0 < test_fraction < 1.0:
            raise InvalidInput("test_fraction must be between 0 and 1", test_fraction=test_fraction)
        times = np.sort(data.time_ms)
        cut_ms = int(times[min(int(len(times) * (1.0 - test_fraction)), len(times) - 1)])
    test_mask = data.time_ms >= cut_ms
    train_mask = ~test_mask
    if not train_mask.any() or not test_mask.any():
        raise InvalidInput("the cut leaves nothing to train on or nothing to test", cut_ms=cut_ms)
    history = np.bincount(data.user[train_mask], minlength=data.n_users)
    eligible = np.ones(data.n_users, bool) if keep_cold_users else history >= max(min_train_interactions, 1)
    spec = SplitSpec(
        "temporal",
        test_fraction=test_fraction,
        cut_ms=cut_ms,
        keep_cold_users=keep_cold_users,
        new_items_only=new_items_only,
        min_train_interactions=min_train_interactions,
        max_test_users=max_test_users,
        seed=seed,
    )
    return _finish(data, train_mask, test_mask, eligible, spec, {"cut_ms": cut_ms})


def leave_last_out(
    data: Interactions,
    *,
    unit: Unit = "interaction",
    new_items_only: bool = True,
    min_train_interactions: int = 1,
    max_test_users: int | None = None,
    seed: int = 0,
) -> Split:
    """Hold out each person's last interaction, last basket or last day.

    A person keeps everything in train (and is not tested) when fewer than
    ``min_train_interactions`` events would remain. ``unit="basket"`` needs
    ``data.basket``; a day is a UTC calendar day.
    """
    if len(data) == 0:
        raise InvalidInput("cannot split an empty set of interactions")
    if unit == "basket" and data.basket is None:
        raise InvalidInput("unit='basket' needs basket ids in the interactions")
    order = _tiebreak_order(data, seed)
    users_sorted = data.user[order]
    is_last = np.ones(order.size, dtype=bool)
    is_last[:-1] = users_sorted[1:] != users_sorted[:-1]
    last_event = np.full(data.n_users, -1, dtype=np.int64)
    last_event[users_sorted[is_last]] = order[is_last]
    mine = last_event[data.user]  # each event's person's last event
    if unit == "interaction":
        held = np.zeros(len(data), dtype=bool)
        held[order[is_last]] = True
    elif unit == "basket":
        assert data.basket is not None
        held = data.basket == data.basket[mine]
    else:
        held = data.time_ms // DAY_MS == data.time_ms[mine] // DAY_MS
    remaining = np.bincount(data.user[~held], minlength=data.n_users)
    eligible = remaining >= max(min_train_interactions, 1)
    test_mask = held & eligible[data.user]
    spec = SplitSpec(
        "leave_last_out",
        unit=unit,
        new_items_only=new_items_only,
        min_train_interactions=min_train_interactions,
        max_test_users=max_test_users,
        seed=seed,
    )
    return _finish(data, ~test_mask, test_mask, eligible, spec, {})


def validation_split(split: Split) -> Split:
    """The same protocol applied to ``split``'s train events: for tuning, never the test.

    A temporal split is cut again at the time that leaves ``test_fraction`` of the
    train events after it.
    """
    return replace(split.spec, cut_ms=None).apply(split.train_data)


def train_times(split: Split) -> csr_matrix:
    """When each (person, item) cell of ``split.train`` last happened, in ms (float64, the
    pattern of ``split.train``): what training gives a model as ``timestamps_ms``
    (``InteractionMatrix.last_ms_``), from the split's train events only."""
    data = split.train_data
    cell = data.user * data.n_items + data.item
    order = np.lexsort((-data.time_ms, cell))  # per cell, its latest event first
    first = np.ones(order.size, dtype=bool)
    first[1:] = cell[order][1:] != cell[order][:-1]
    latest = order[first]
    return csr_matrix(
        (data.time_ms[latest].astype(np.float64), (data.user[latest], data.item[latest])),
        shape=(data.n_users, data.n_items),
    )
