"""Metrics of top-k lists, vectorized over people.

``recs`` is an ``(n_users, k)`` array of item indices, best first, padded with ``-1``
when a model returned fewer than ``k`` items; ``relevant`` is an ``(n_users, n_items)``
sparse matrix whose non-zeros are the relevant items of the same rows. Rows with no
relevant item are left out of the means.

Accuracy (binary relevance; ``hits`` = relevant items in the first ``k``):

* ``recall@k = hits / |rel|`` — RecBole's definition (implicit's ``precision_at_k`` is
  ``Σ hits / Σ min(k, |rel|)`` over all people instead: a micro average with a capped
  denominator);
* ``precision@k = hits / k``; ``hit_rate@k`` = share of people with at least one hit;
* ``ndcg@k = DCG / IDCG`` with gains ``1 / log2(rank + 1)`` and the ideal list of
  ``min(|rel|, k)`` hits (the same as implicit's ``ndcg_at_k`` and RecBole's);
* ``map@k``: the mean of ``AP@k = Σ_{hits at rank r} precision@r / min(|rel|, k)``.

Beyond accuracy: catalogue coverage, intra-list diversity (1 - mean pairwise
similarity, from item vectors or categories), novelty (mean self-information
``-log2 p(i)`` of the recommended items, ``p(i)`` the share of people who had ``i`` in
train) and serendipity (the share of slots that are relevant *and* absent from a
popularity baseline's list for the same person; Ge et al. 2010, Kaminskas & Bridge 2016).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix, issparse

from surmesure.errors import InvalidInput

__all__ = [
    "ACCURACY_METRICS",
    "catalogue_coverage",
    "hits_at_k",
    "intra_list_diversity",
    "item_popularity",
    "map_at_k",
    "ndcg_at_k",
    "novelty",
    "ranking_metrics",
    "recall_at_k",
    "serendipity",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
ACCURACY_METRICS = ("recall", "ndcg", "map", "hit_rate", "precision")


def _check(recs: npt.ArrayLike, relevant: csr_matrix) -> tuple[IntArray, csr_matrix]:
    r = np.asarray(recs, dtype=np.int64)
    if r.ndim != 2:
        raise InvalidInput("recs must be a 2-D array (one row of item indices per person)", ndim=r.ndim)
    rel = csr_matrix(relevant)
    if rel.shape[0] != r.shape[0]:
        raise InvalidInput(
            "recs and relevant must have one row per person each", rows=[r.shape[0], rel.shape[0]]
        )
    return r, rel


def hits_at_k(recs: npt.ArrayLike, relevant: csr_matrix) -> BoolArray:
    """``(n_users, k)``: is the item in this slot relevant to this person? Padding never is."""
    r, rel = _check(recs, relevant)
    n, k = r.shape
    valid = (r >= 0) & (r < rel.shape[1])
    rows = np.repeat(np.arange(n), k)
    cols = np.where(valid, r, 0).ravel()
    found = np.asarray(rel[rows, cols]).ravel() != 0 if n * k else np.zeros(0, bool)
    out: BoolArray = found.reshape(n, k) & valid
    return out


def _per_user(recs: npt.ArrayLike, relevant: csr_matrix, k: int) -> tuple[BoolArray, IntArray]:
    r, rel = _check(recs, relevant)
    if not 1 <= k <= r.shape[1]:
        raise InvalidInput("k must be between 1 and the length of the lists", k=k, length=r.shape[1])
    n_rel = np.diff(rel.indptr).astype(np.int64)
    keep = n_rel > 0
    hits = hits_at_k(r[keep, :k], rel[keep])
    return hits, n_rel[keep]


def _mean(values: FloatArray) -> float:
    return float(values.mean()) if values.size else float("nan")


def _discounts(k: int) -> FloatArray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def _scores(hits: BoolArray, n_rel: IntArray, k: int) -> dict[str, FloatArray]:
    count = hits.sum(axis=1).astype(np.float64)
    disc = _discounts(k)
    ideal = np.cumsum(disc)[np.minimum(n_rel, k) - 1]
    ranks = np.arange(1, k + 1, dtype=np.float64)
    precision_at_rank = np.cumsum(hits, axis=1) / ranks
    return {
        "recall": count / n_rel,
        "ndcg": (hits @ disc) / ideal,
        "map": (precision_at_rank * hits).sum(axis=1) / np.minimum(n_rel, k),
        "hit_rate": (count > 0).astype(np.float64),
        "precision": count / k,
    }


def recall_at_k(recs: npt.ArrayLike, relevant: csr_matrix, k: int) -> float:
    hits, n_rel = _per_user(recs, relevant, k)
    return _mean(_scores(hits, n_rel, k)["recall"])


def ndcg_at_k(recs: npt.ArrayLike, relevant: csr_matrix, k: int) -> float:
    hits, n_rel = _per_user(recs, relevant, k)
    return _mean(_scores(hits, n_rel, k)["ndcg"])


def map_at_k(recs: npt.ArrayLike, relevant: csr_matrix, k: int) -> float:
    hits, n_rel = _per_user(recs, relevant, k)
    return _mean(_scores(hits, n_rel, k)["map"])


def ranking_metrics(recs: npt.ArrayLike, relevant: csr_matrix, ks: Iterable[int]) -> dict[str, float]:
    """Every accuracy metric at every ``k``: ``{"recall@10": ..., "ndcg@10": ..., ...}``.

    The lists must be at least ``max(ks)`` long; shorter cut-offs use their prefix.
    """
    out: dict[str, float] = {}
    ks = sorted(set(ks))
    hits_full, n_rel = _per_user(recs, relevant, ks[-1])
    for k in ks:
        for name, values in _scores(hits_full[:, :k], n_rel, k).items():
            out[f"{name}@{k}"] = _mean(values)
    return out


def catalogue_coverage(recs: npt.ArrayLike, n_items: int) -> float:
    """Share of the catalogue that appears in at least one list."""
    r = np.asarray(recs, dtype=np.int64)
    shown = np.unique(r[(r >= 0) & (r < n_items)])
    return shown.size / n_items if n_items else float("nan")


def item_popularity(train: csr_matrix) -> IntArray:
    """How many people interacted with each item in ``train`` (a usersxitems matrix)."""
    counts: IntArray = np.diff(csr_matrix(train).tocsc().indptr).astype(np.int64)
    return counts


def novelty(recs: npt.ArrayLike, popularity: npt.ArrayLike, n_users: int) -> float:
    """Mean over lists of the mean ``-log2(max(count, 1) / n_users)`` of their items.

    An item nobody had in train counts as if one person had: the most novel value.
    """
    r = np.asarray(recs, dtype=np.int64)
    counts = np.maximum(np.asarray(popularity, dtype=np.float64), 1.0)
    info = -np.log2(np.minimum(counts / max(n_users, 1), 1.0))
    valid = (r >= 0) & (r < counts.size)
    per_slot = np.where(valid, info[np.where(valid, r, 0)], 0.0)
    lengths = valid.sum(axis=1)
    keep = lengths > 0
    return _mean(per_slot.sum(axis=1)[keep] / lengths[keep])


def _unit_rows(vectors: npt.ArrayLike | csr_matrix) -> npt.NDArray[np.float64] | csr_matrix:
    if issparse(vectors):
        m = csr_matrix(vectors, dtype=np.float64)
        norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return csr_matrix(m.multiply(1.0 / norms[:, None]))
    v = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return v / norms


def intra_list_diversity(
    recs: npt.ArrayLike,
    *,
    item_vectors: npt.ArrayLike | csr_matrix | None = None,
    item_categories: npt.ArrayLike | None = None,
) -> float:
    """Mean over lists of ``1 - mean pairwise similarity`` of their items.

    Similarity is the cosine of ``item_vectors`` rows (dense or sparse, one row per
    item: factors, TF-IDF, or ``train.T`` for co-occurrence), or 1 when two items share
    a category (``item_categories``: one integer per item; ``-1``, unknown, matches
    nothing). Lists with fewer than two items are left out.
    """
    r = np.asarray(recs, dtype=np.int64)
    if (item_vectors is None) == (item_categories is None):
        raise InvalidInput("pass exactly one of item_vectors and item_categories")
    n, k = r.shape
    a_idx, b_idx = np.triu_indices(k, 1)
    a, b = r[:, a_idx].ravel(), r[:, b_idx].ravel()
    pair_ok = (a >= 0) & (b >= 0)
    sims = np.zeros(a.size, dtype=np.float64)
    if item_categories is not None:
        cats = np.asarray(item_categories, dtype=np.int64)
        ca, cb = cats[a[pair_ok]], cats[b[pair_ok]]
        sims[pair_ok] = ((ca == cb) & (ca >= 0)).astype(np.float64)
    else:
        assert item_vectors is not None
        unit = _unit_rows(item_vectors)
        shown, pos = np.unique(np.concatenate([a[pair_ok], b[pair_ok]]), return_inverse=True)
        pa, pb = pos[: pos.size // 2], pos[pos.size // 2 :]
        sub = unit[shown]
        if isinstance(sub, csr_matrix):
            gram = csr_matrix(sub @ sub.T)
            sims[pair_ok] = np.asarray(gram[pa, pb]).ravel() if pa.size else sims[pair_ok]
        else:
            sims[pair_ok] = np.einsum("ij,ij->i", sub[pa], sub[pb])
    pairs = pair_ok.reshape(n, -1).sum(axis=1)
    keep = pairs > 0
    return _mean(1.0 - sims.reshape(n, -1).sum(axis=1)[keep] / pairs[keep])


def serendipity(recs: npt.ArrayLike, relevant: csr_matrix, expected: npt.ArrayLike, k: int) -> float:
    """Mean share of the first ``k`` slots that are relevant and not in ``expected``.

    ``expected`` is the obvious list: one global list of item indices (1-D), or one per
    person (2-D, same rows as ``recs``), typically the popularity baseline's.
    """
    hits, _ = _per_user(recs, relevant, k)
    r, rel = _check(recs, relevant)
    keep = np.diff(rel.indptr) > 0
    top = r[keep, :k]
    exp = np.asarray(expected, dtype=np.int64)
    if exp.ndim == 1:
        obvious = np.isin(top, exp[exp >= 0])
    else:
        e = exp[keep]
        obvious = (top[:, :, None] == e[:, None, :]).any(axis=2)
    return _mean(((hits & ~obvious).sum(axis=1) / k).astype(np.float64))
