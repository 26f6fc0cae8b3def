"""Sparse helpers shared by the neighbourhood models."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix

__all__ = ["binary", "gather_rows", "row_times", "session_row", "top_k_per_row"]


def binary(matrix: csr_matrix) -> csr_matrix:
    """1 where the cell is positive, as float32, same shape."""
    parts = ((matrix.data > 0).astype(np.float32), matrix.indices.copy(), matrix.indptr.copy())
    out = csr_matrix(parts, shape=matrix.shape)
    out.eliminate_zeros()
    return out


def top_k_per_row(matrix: csr_matrix, k: int) -> csr_matrix:
    """Keep the ``k`` largest positive values of each row (ties: the lower column)."""
    m = csr_matrix(matrix, dtype=np.float32, copy=True)
    m.data[~np.isfinite(m.data) | (m.data <= 0)] = 0
    m.eliminate_zeros()
    m.sort_indices()
    rows = np.repeat(np.arange(m.shape[0]), np.diff(m.indptr))
    # within each row: by value descending, then column ascending
    order = np.lexsort((m.indices, -m.data, rows))
    rank = np.empty(len(order), dtype=np.int64)
    starts = m.indptr[rows[order]]
    rank[order] = np.arange(len(order)) - starts
    keep: npt.NDArray[np.bool_] = rank < k
    out = csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape, dtype=np.float32)
    out.sort_indices()
    return out


def session_row(items: npt.ArrayLike, n_items: int, half_life_steps: float) -> csr_matrix:
    """A 1xn_items row from a session's item indices in viewing order: the last item
    weighs 1, each step back halves the weight every ``half_life_steps`` steps."""
    seq = np.asarray(items, dtype=np.intp).reshape(-1)
    seq = seq[(seq >= 0) & (seq < n_items)]
    steps_back = np.arange(len(seq))[::-1].astype(np.float64)
    weights = np.exp2(-steps_back / max(half_life_steps, 1e-9)).astype(np.float32)
    row = csr_matrix((weights, (np.zeros(len(seq), dtype=np.intp), seq)), shape=(1, n_items))
    row.sum_duplicates()
    return row


def row_times(row: csr_matrix, matrix: csr_matrix) -> npt.NDArray[np.float64]:
    """``row @ matrix`` for a 1xn sparse row, as a dense vector (see :func:`gather_rows`)."""
    if row.shape[0] != 1:
        raise ValueError("row_times takes one row")
    return gather_rows(np.asarray(row.indices, dtype=np.intp), np.asarray(row.data, dtype=np.float64), matrix)


def gather_rows(
    cols: npt.NDArray[np.intp], weights: npt.NDArray[np.float64], matrix: csr_matrix
) -> npt.NDArray[np.float64]:
    """``Σ weights[i] · matrix[cols[i]]`` as a dense vector: the few rows of ``matrix`` a
    visitor's items name, weighted and added (one ``bincount``), without building a
    sparse product (the serving path: a visitor's row against an item-item matrix)."""
    starts = matrix.indptr[cols]
    lengths = (matrix.indptr[cols + 1] - starts).astype(np.intp)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(matrix.shape[1], dtype=np.float64)
    # the position in matrix.data of every stored value of those rows, row after row
    positions = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
    values = np.repeat(np.asarray(weights, dtype=np.float64), lengths) * matrix.data[positions]
    summed = np.bincount(matrix.indices[positions], weights=values, minlength=matrix.shape[1])
    return np.asarray(summed, dtype=np.float64)
