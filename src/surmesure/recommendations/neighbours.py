"""Item-to-item neighbour lists for serving: per item, its ``top`` most similar items
(indices and scores, positive only), computed from the model's ``_similar`` once per
item and kept for the life of the loaded version.

Reasons ask "which of the person's items is the recommended one most similar to": with
the lists that is ``k * |history|`` lookups instead of a dense ``|history| * n_items``
similarity per request. An item outside a history item's list counts as not similar
to it (its similarity is below the list's last score).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_TOP", "HistoryLists", "Neighbours"]

DEFAULT_TOP = 100
_BATCH = 256

#: ``similar(items)`` → an (len(items), n_items) similarity matrix
SimilarRows = Callable[[npt.NDArray[np.intp]], Any]


class Neighbours:
    """Lazily filled neighbour lists: ``similarity(candidates, history)`` from them."""

    def __init__(self, similar: SimilarRows, n_items: int, *, top: int = DEFAULT_TOP) -> None:
        self._similar = similar
        self.n_items = n_items
        self.top = max(1, min(top, n_items))
        # per item: (neighbour indices, sorted ascending; their scores); None until asked
        self._lists: list[tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]] | None] = [None] * n_items
        self._lock = threading.Lock()

    def fill(self, items: npt.ArrayLike | None = None) -> None:
        """Compute the lists of ``items`` (all items when None) that are not known yet."""
        wanted = np.arange(self.n_items) if items is None else np.asarray(items, dtype=np.intp).reshape(-1)
        missing = np.unique(np.asarray([i for i in wanted.tolist() if self._lists[i] is None], dtype=np.intp))
        for start in range(0, len(missing), _BATCH):
            batch = missing[start : start + _BATCH]
            rows = np.asarray(self._similar(batch), dtype=np.float32)
            lists = [self._top(row) for row in rows]
            with self._lock:  # two requests may compute the same list: the results are equal
                for item, found in zip(batch.tolist(), lists, strict=True):
                    self._lists[item] = found

    def _top(self, row: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
        cut = np.argpartition(-row, self.top - 1)[: self.top] if self.top < len(row) else np.arange(len(row))
        cut = cut[row[cut] > 0]
        cut.sort()
        return cut.astype(np.intp), row[cut].astype(np.float32)

    def of(self, item: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float32]]:
        """The neighbour indices (ascending) and scores of one item."""
        found = self._lists[item]
        if found is None:
            self.fill([item])
            found = self._lists[item]
            assert found is not None
        return found

    def similarity(
        self, candidates: npt.NDArray[np.intp], history: npt.NDArray[np.intp]
    ) -> npt.NDArray[np.float32]:
        """A (len(candidates), len(history)) matrix: the score of each candidate in each
        history item's list, 0 when absent."""
        return self.against(history)(candidates, history)

    def against(self, history: npt.ArrayLike) -> HistoryLists:
        """The lists of ``history``'s items joined once, for many ``similarity`` calls
        against that history (a visitor's reasons, kept between their requests)."""
        hist = np.asarray(history, dtype=np.intp).reshape(-1)
        if any(self._lists[h] is None for h in hist.tolist()):
            self.fill(hist)
        return HistoryLists(self, hist)


class HistoryLists:
    """The neighbour lists of one history in a single sorted array of keys
    ``j * n_items + neighbour`` (the lists are ascending and ``j`` grows): the
    similarity of any candidates to it is then one search. Called with another history,
    it answers through the :class:`Neighbours` it came from."""

    def __init__(self, neighbours: Neighbours, history: npt.NDArray[np.intp]) -> None:
        self.neighbours = neighbours
        self.history = history
        lists = [neighbours.of(h) for h in history.tolist()]
        lengths = np.asarray([len(idx) for idx, _ in lists], dtype=np.intp)
        n = neighbours.n_items
        if lists and lengths.sum():
            self.keys = np.concatenate([idx for idx, _ in lists]) + np.repeat(
                np.arange(len(history)) * n, lengths
            )
            self.scores = np.concatenate([found for _, found in lists])
        else:
            self.keys = np.zeros(0, dtype=np.intp)
            self.scores = np.zeros(0, dtype=np.float32)

    def __call__(
        self, candidates: npt.NDArray[np.intp], history: npt.NDArray[np.intp]
    ) -> npt.NDArray[np.float32]:
        hist = np.asarray(history, dtype=np.intp).reshape(-1)
        if hist is not self.history and not np.array_equal(hist, self.history):
            return self.neighbours.against(hist)(candidates, hist)
        cands = np.asarray(candidates, dtype=np.intp).reshape(-1)
        out = np.zeros((len(cands), len(hist)), dtype=np.float32)
        if not len(cands) or not len(self.keys):
            return out
        n = self.neighbours.n_items
        wanted = (cands[:, np.newaxis] + np.arange(len(hist))[np.newaxis, :] * n).reshape(-1)
        pos = np.minimum(np.searchsorted(self.keys, wanted), len(self.keys) - 1)
        hit = self.keys[pos] == wanted
        flat = out.reshape(-1)
        flat[hit] = self.scores[pos[hit]]
        return out
