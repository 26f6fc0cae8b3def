"""From interaction events to the weighted userxitem matrix every model is fitted on.

One row per person (or per session, see :func:`sessionize`), one column per item; a
cell is the sum over that person's events on that item of
``weight[kind] x 0.5 ** (age / half_life) x log2(1 + quantity)``, so a purchase counts
more than an add to cart, which counts more than a view, and last month counts more
than last year. Everything is vectorized: a million events with string ids take about
3 s on a 2-core machine (``np.unique`` on the ids dominates).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt
from scipy.sparse import coo_matrix, csr_matrix

from .errors import NotFittedError

__all__ = [
    "DEFAULT_PURCHASE_KINDS",
    "DEFAULT_WEIGHTS",
    "Interaction",
    "InteractionMatrix",
    "columns",
    "sessionize",
]

#: view < add to cart < purchase; the Segment e-commerce names map to the same weights
DEFAULT_WEIGHTS: Mapping[str, float] = {
    "view": 1.0,
    "add_to_cart": 3.0,
    "purchase": 5.0,
    "Product Viewed": 1.0,
    "Product Clicked": 1.0,
    "Product Added": 3.0,
    "Order Completed": 5.0,
}
DEFAULT_PURCHASE_KINDS: tuple[str, ...] = ("purchase", "Order Completed")
_DAY_MS = 86_400_000


class Interaction(NamedTuple):
    """One event on one item, as the builder reads it."""

    person_id: str
    item_id: str
    kind: str
    timestamp_ms: int
    quantity: float | None = None


def columns(records: Iterable[Interaction | tuple[Any, ...]]) -> dict[str, npt.NDArray[Any]]:
    """Records (tuples in :class:`Interaction` order) → the column arrays ``fit`` takes."""
    rows = [Interaction(*r) for r in records]
    return {
        "person_ids": np.array([r.person_id for r in rows], dtype=str),
        "item_ids": np.array([r.item_id for r in rows], dtype=str),
        "kinds": np.array([r.kind for r in rows], dtype=str),
        "timestamps_ms": np.array([r.timestamp_ms for r in rows], dtype=np.int64),
        "quantities": np.array([np.nan if r.quantity is None else r.quantity for r in rows], dtype=float),
    }


def sessionize(
    person_ids: npt.ArrayLike, timestamps_ms: npt.ArrayLike, *, gap_minutes: float = 30.0
) -> npt.NDArray[np.int64]:
    """A session number per event: a new session starts after ``gap_minutes`` of silence.

    Pass the result as ``person_ids`` to :meth:`InteractionMatrix.fit` to get a
    sessionsxitems matrix (what :class:`~.algorithms.SessionKNN` is fitted on).
    """
    persons = np.asarray(person_ids)
    ts = np.asarray(timestamps_ms, dtype=np.int64)
    if ts.size == 0:
        return np.zeros(0, dtype=np.int64)
    _, person_codes = np.unique(persons, return_inverse=True)
    order = np.lexsort((ts, person_codes))
    p, t = person_codes[order], ts[order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (p[1:] != p[:-1]) | (t[1:] - t[:-1] > gap_minutes * 60_000)
    sessions = np.empty(len(order), dtype=np.int64)
    sessions[order] = np.cumsum(starts) - 1
    return sessions


class InteractionMatrix:
    """Builds the weighted userxitem matrix, the id maps and the replenishable items.

    Parameters
    ----------
    weights : mapping of str to float, optional
        Weight of each event kind; kinds not listed (or weighted 0) are ignored.
        Defaults to :data:`DEFAULT_WEIGHTS` (view 1, add to cart 3, purchase 5).
    half_life_days : float or None, default 30
        An event loses half its weight every ``half_life_days`` before the reference
        time; ``None`` turns recency weighting off.
    purchase_kinds : sequence of str
        The kinds that count as purchases (for replenishable items).
    replenish_min_buyers : int, default 3
        An item needs at least this many buyers to be judged replenishable.
    replenish_min_purchases : int, default 2
        A buyer who bought the item this many times or more is a repeat buyer.
    replenish_share : float, default 0.3
        Replenishable: at least this share of the item's buyers are repeat buyers.

    Attributes
    ----------
    user_ids_, item_ids_ : ndarray
        The id of each row and of each column (sorted, so the maps are stable).
    user_items_ : csr_matrix of float32, shape (n_users, n_items)
        The weighted interactions.
    last_ms_ : csr_matrix of int64
        Same pattern: the time of each person's latest event on each item.
    purchases_ : csr_matrix of int32
        Number of purchase events per person and item.
    replenishable_ : ndarray of bool, shape (n_items,)
        Items people buy again (serving may recommend them although bought).
    now_ms_ : int
        The reference time of the recency weighting.
    n_dropped_ : int
        Events ignored: an unknown kind, or an item outside ``items``.
    """

    def __init__(
        self,
        *,
        weights: Mapping[str, float] | None = None,
        half_life_days: float | None = 30.0,
        purchase_kinds: Sequence[str] = DEFAULT_PURCHASE_KINDS,
        replenish_min_buyers: int = 3,
        replenish_min_purchases: int = 2,
        replenish_share: float = 0.3,
    ) -> None:
        self.weights = weights
        self.half_life_days = half_life_days
        self.purchase_kinds = purchase_kinds
        self.replenish_min_buyers = replenish_min_buyers
        self.replenish_min_purchases = replenish_min_purchases
        self.replenish_share = replenish_share

    # -- fitting ---------------------------------------------------------------------

    def fit(
        self,
        person_ids: npt.ArrayLike,
        item_ids: npt.ArrayLike,
        kinds: npt.ArrayLike,
        timestamps_ms: npt.ArrayLike,
        quantities: npt.ArrayLike | None = None,
        *,
        now_ms: int | None = None,
        items: npt.ArrayLike | None = None,
    ) -> InteractionMatrix:
        """Build the matrix from column arrays (one value per event).

        ``now_ms`` is the reference time of recency (default: the latest event, so the
        result does not depend on the wall clock). ``items`` fixes the columns, e.g. to
        the whole catalogue so that items nobody touched yet get a column (content-based
        models need them); events on other items are then dropped.
        """
        persons = np.asarray(person_ids)
        item_arr = np.asarray(item_ids)
        ts = np.asarray(timestamps_ms, dtype=np.int64)
        n = len(ts)
        if not (len(persons) == len(item_arr) == n and len(np.asarray(kinds)) == n):
            raise ValueError("person_ids, item_ids, kinds and timestamps_ms must have one value per event")
        value, is_purchase = self._kind_values(kinds)
        keep = value > 0
        if items is None:
            self.item_ids_ = np.unique(item_arr[keep])
        else:
            self.item_ids_ = np.unique(np.asarray(items))
        cols = self._index(self.item_ids_, item_arr)
        keep &= cols >= 0
        self.n_dropped_ = int(n - keep.sum())
        self.user_ids_, rows = np.unique(persons[keep], return_inverse=True)
        cols, ts, value, is_purchase = cols[keep], ts[keep], value[keep], is_purchase[keep]
        qty = None if quantities is None else np.asarray(quantities, dtype=float)[keep]
        self.now_ms_ = int(now_ms if now_ms is not None else (ts.max() if ts.size else 0))
        shape = (len(self.user_ids_), len(self.item_ids_))
        self.user_items_ = self._matrix(rows, cols, value * self._factor(ts, qty, self.now_ms_), shape)
        self.last_ms_ = _latest(rows, cols, ts, shape)
        p = is_purchase
        counts = coo_matrix((np.ones(int(p.sum()), dtype=np.int32), (rows[p], cols[p])), shape=shape)
        self.purchases_ = counts.tocsr()
        self.purchases_.sum_duplicates()
        self.replenishable_ = self._replenishable(self.purchases_)
        return self

    def _kind_values(self, kinds: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        weights = DEFAULT_WEIGHTS if self.weights is None else self.weights
        unique, inverse = np.unique(np.asarray(kinds, dtype=str), return_inverse=True)
        per_kind = np.array([float(weights.get(str(k), 0.0)) for k in unique], dtype=np.float64)
        purchase = np.array([str(k) in self.purchase_kinds for k in unique], dtype=bool)
        return per_kind[inverse].reshape(-1), purchase[inverse].reshape(-1)

    def _factor(
        self, ts: npt.NDArray[np.int64], qty: npt.NDArray[np.float64] | None, now_ms: int
    ) -> npt.NDArray[np.float64]:
        factor = np.ones(len(ts), dtype=np.float64)
        if self.half_life_days is not None:
            age = np.maximum(now_ms - ts, 0).astype(np.float64)
            factor *= np.exp2(-age / (self.half_life_days * _DAY_MS))
        if qty is not None:
            q = np.where(np.isfinite(qty), np.maximum(qty, 1.0), 1.0)
            factor *= np.log2(1.0 + q)
        return factor

    @staticmethod
    def _matrix(
        rows: npt.NDArray[np.intp],
        cols: npt.NDArray[np.intp],
        values: npt.NDArray[np.float64],
        shape: tuple[int, int],
    ) -> csr_matrix:
        if shape[0] == 1:  # one visitor's row at serving: no COO round trip
            cols_, inverse = np.unique(cols, return_inverse=True)
            data = np.zeros(len(cols_), dtype=np.float32)
            np.add.at(data, inverse.reshape(-1), values.astype(np.float32))
            indptr = np.array([0, len(cols_)], dtype=np.int32)
            return csr_matrix((data, cols_.astype(np.int32), indptr), shape=shape)
        matrix = coo_matrix((values.astype(np.float32), (rows, cols)), shape=shape).tocsr()
        matrix.sum_duplicates()
        matrix.sort_indices()
        return matrix

    def _replenishable(self, purchases: csr_matrix) -> npt.NDArray[np.bool_]:
        n_items = purchases.shape[1]
        buyers = np.bincount(purchases.indices, minlength=n_items)
        repeat = purchases.indices[purchases.data >= self.replenish_min_purchases]
        repeaters = np.bincount(repeat, minlength=n_items)
        return (buyers >= self.replenish_min_buyers) & (repeaters >= self.replenish_share * buyers)

    @staticmethod
    def _index(known: npt.NDArray[Any], ids: npt.NDArray[Any]) -> npt.NDArray[np.intp]:
        if len(known) == 0:
            return np.full(len(ids), -1, dtype=np.intp)
        pos = np.searchsorted(known, ids)
        pos = np.minimum(pos, len(known) - 1)
        return np.where(known[pos] == ids, pos, -1).astype(np.intp)

    # -- using the maps --------------------------------------------------------------

    def _check(self) -> None:
        if not hasattr(self, "user_items_"):
            raise NotFittedError("the interaction matrix is used before fit")

    def user_index(self, ids: npt.ArrayLike) -> npt.NDArray[np.intp]:
        """Row of each person id (-1 for a person not in the matrix)."""
        self._check()
        return self._index(self.user_ids_, np.atleast_1d(np.asarray(ids)))

    def item_index(self, ids: npt.ArrayLike) -> npt.NDArray[np.intp]:
        """Column of each item id (-1 for an unknown item)."""
        self._check()
        return self._index(self.item_ids_, np.atleast_1d(np.asarray(ids)))

    def row(
        self,
        item_ids: npt.ArrayLike,
        kinds: npt.ArrayLike,
        timestamps_ms: npt.ArrayLike,
        quantities: npt.ArrayLike | None = None,
        *,
        now_ms: int,
    ) -> csr_matrix:
        """One visitor's events as a 1xn_items row, weighted like the matrix, for serving
        (an anonymous session, or a known person's newest events not yet trained on)."""
        cols, value = self.row_parts(item_ids, kinds)
        return self.row_at(cols, value, timestamps_ms, quantities, now_ms=now_ms)

    def row_parts(
        self, item_ids: npt.ArrayLike, kinds: npt.ArrayLike
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
        """The part of :meth:`row` that does not depend on the time: each event's column
        (-1 unknown) and kind weight (serving keeps them for a visitor between requests)."""
        self._check()
        value, _ = self._kind_values(kinds)
        return self.item_index(item_ids), value

    def row_at(
        self,
        cols: npt.NDArray[np.intp],
        value: npt.NDArray[np.float64],
        timestamps_ms: npt.ArrayLike,
        quantities: npt.ArrayLike | None = None,
        *,
        now_ms: int,
    ) -> csr_matrix:
        """:meth:`row` from :meth:`row_parts`: the recency and quantity factors at ``now_ms``."""
        kept, values = self.row_entries_at(cols, value, timestamps_ms, quantities, now_ms=now_ms)
        rows = np.zeros(len(kept), dtype=np.intp)
        return self._matrix(rows, kept, values, (1, len(self.item_ids_)))

    def row_entries_at(
        self,
        cols: npt.NDArray[np.intp],
        value: npt.NDArray[np.float64],
        timestamps_ms: npt.ArrayLike,
        quantities: npt.ArrayLike | None = None,
        *,
        now_ms: int,
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
        """The entries of :meth:`row_at`'s row before they are summed per column: each
        kept event's column and weight (the serving path scores them without a matrix)."""
        ts = np.atleast_1d(np.asarray(timestamps_ms, dtype=np.int64))
        keep = (value > 0) & (cols >= 0)
        qty = None if quantities is None else np.asarray(quantities, dtype=float)[keep]
        return cols[keep], value[keep] * self._factor(ts[keep], qty, now_ms)


def _latest(
    rows: npt.NDArray[np.intp], cols: npt.NDArray[np.intp], ts: npt.NDArray[np.int64], shape: tuple[int, int]
) -> csr_matrix:
    """The maximum timestamp per (row, col), as a CSR matrix of the same pattern."""
    if len(ts) == 0:
        return csr_matrix(shape, dtype=np.int64)
    order = np.lexsort((ts, cols, rows))
    r, c, t = rows[order], cols[order], ts[order]
    last = np.ones(len(order), dtype=bool)
    last[:-1] = (r[1:] != r[:-1]) | (c[1:] != c[:-1])
    return csr_matrix((t[last], (r[last], c[last])), shape=shape, dtype=np.int64)
