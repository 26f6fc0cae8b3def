"""Small data sets whose right recommendations are obvious, shared by the tests of the
recommender core (fast: tens of users and items)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

from surmesure.recommendations.items import ItemTable

DAY_MS = 86_400_000
NOW_MS = 1_800_000_000_000


@dataclass(frozen=True)
class Clusters:
    """Two disjoint tastes: users ``0..n/2-1`` only touch items ``0..m/2-1`` ("shoes"),
    the others only items ``m/2..m-1`` ("hats"); the last two items are new (nobody
    touched them), one of each kind."""

    user_items: csr_matrix
    timestamps_ms: csr_matrix
    sessions: csr_matrix
    table: ItemTable
    n_users: int
    n_items: int
    half: int

    def cluster_of_user(self, user: int) -> int:
        return 0 if user < self.n_users // 2 else 1

    def cluster_of_item(self, item: int) -> int:
        return 0 if item < self.half or item == self.n_items - 2 else 1


def clusters(n_users: int = 60, per_cluster: int = 12, per_user: int = 6, seed: int = 0) -> Clusters:
    rng = np.random.default_rng(seed)
    n_items = 2 * per_cluster + 2
    rows: list[int] = []
    cols: list[int] = []
    for user in range(n_users):
        base = 0 if user < n_users // 2 else per_cluster
        # item popularity within a cluster decreases with the index: a clear global order
        p = np.linspace(2.0, 1.0, per_cluster)
        picks = rng.choice(per_cluster, per_user, replace=False, p=p / p.sum())
        rows.extend([user] * per_user)
        cols.extend(int(base + i) for i in picks)
    weights = rng.choice(np.array([1.0, 3.0, 5.0], dtype=np.float32), len(rows))
    matrix = csr_matrix((weights, (rows, cols)), shape=(n_users, n_items), dtype=np.float32)
    matrix.sort_indices()
    age_days = rng.integers(0, 60, matrix.nnz)
    stamps = csr_matrix(
        (NOW_MS - age_days * DAY_MS, matrix.indices.copy(), matrix.indptr.copy()), shape=matrix.shape
    )
    kinds = ["shoe"] * per_cluster + ["hat"] * per_cluster + ["shoe", "hat"]
    titles = [f"{'Red leather shoe' if k == 'shoe' else 'Blue wool hat'} {i}" for i, k in enumerate(kinds)]
    table = ItemTable.build(
        [f"sku-{i}" for i in range(n_items)],
        title=titles,
        category=["Shoes" if k == "shoe" else "Hats" for k in kinds],
        brand=["Stride" if k == "shoe" else "Woolly" for k in kinds],
        tags=[[k, "winter" if k == "hat" else "summer"] for k in kinds],
        price=[float(10 + i) for i in range(n_items)],
    )
    return Clusters(matrix, stamps, matrix.copy(), table, n_users, n_items, per_cluster)


def fit_kwargs(data: Clusters) -> dict[str, Any]:
    """Everything any model's ``fit`` may take; each model reads what it needs."""
    return {
        "item_table": data.table,
        "item_categories": data.table.codes("category"),
        "timestamps_ms": data.timestamps_ms,
        "now_ms": NOW_MS,
        "sessions": data.sessions,
    }
