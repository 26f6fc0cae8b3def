"""Content-based: items like the ones a person consumed, from catalogue text and
attributes alone, so items nobody has touched yet (cold start) are recommended too."""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix, hstack

from ..items import ItemTable
from ._sparse import row_times
from .base import Recommender, Rows, Scores

__all__ = ["ContentBased", "item_texts"]

_WORDS = r"(?u)\b\w\w+\b"


def item_texts(table: ItemTable) -> list[str]:
    """The text of each item: title, categories, brand, tags, keywords."""
    return [
        " ".join(
            [
                table.title[i],
                " ".join(sorted(table.categories[i])),
                table.brand[i],
                " ".join(table.tags[i]),
                table.keywords[i],
            ]
        )
        for i in range(len(table))
    ]


class ContentBased(Recommender):
    """TF-IDF of the item text plus one-hot category and brand; cosine between items; a
    person's profile is the weighted mean of the vectors of the items they consumed.

    Parameters
    ----------
    max_features : int, default 50000
        Vocabulary size (most frequent terms).
    min_df : int, default 1
        Terms in fewer items are dropped.
    attribute_weight : float, default 0.5
        Weight of the category and brand one-hot blocks next to the (unit) text block.

    Attributes
    ----------
    item_vectors_ : csr_matrix of float32, shape (n_items, n_features)
        L2-normalized item vectors.
    vocabulary_ : ndarray of str
        The terms, in column order (for :meth:`transform`).
    idf_ : ndarray of float64
    categories_, brands_ : ndarray of str
        The one-hot columns.
    n_items_ : int
    """

    _fitted_attr = "item_vectors_"

    def __init__(self, *, max_features: int = 50000, min_df: int = 1, attribute_weight: float = 0.5) -> None:
        self.max_features = max_features
        self.min_df = min_df
        self.attribute_weight = attribute_weight

    def fit(self, user_items: csr_matrix, *, item_table: ItemTable | None = None, **_: Any) -> Self:
        """Vectorize the catalogue; ``user_items`` only fixes the number of items.

        Parameters
        ----------
        user_items : csr_matrix (n_users, n_items)
        item_table : ItemTable
            One entry per item column.
        """
        from sklearn.feature_extraction.text import TfidfVectorizer  # type: ignore[import-untyped]

        matrix = self._check_matrix(user_items)
        if item_table is None or len(item_table) != matrix.shape[1]:
            raise ValueError("ContentBased.fit needs an item_table with one entry per item column")
        vectorizer = TfidfVectorizer(
            max_features=self.max_features,
            min_df=self.min_df,
            sublinear_tf=True,
            token_pattern=_WORDS,
            dtype=np.float32,
        )
        texts = item_texts(item_table)
        try:
            vectorizer.fit(texts)
            vocabulary = vectorizer.get_feature_names_out().astype(str)
            idf = np.asarray(vectorizer.idf_, dtype=np.float64)
        except ValueError:  # no term at all (empty catalogue text)
            vocabulary, idf = np.zeros(0, dtype=str), np.zeros(0, dtype=np.float64)
        self.vocabulary_ = vocabulary
        self.idf_ = idf
        self.categories_ = np.unique(item_table.category[item_table.category != ""])
        self.brands_ = np.unique(item_table.brand[item_table.brand != ""])
        self.item_vectors_ = self.transform(item_table)
        self.n_items_ = matrix.shape[1]
        return self

    def transform(self, table: ItemTable) -> csr_matrix:
        """Vectors of (possibly new) items with the fitted vocabulary."""
        from sklearn.feature_extraction.text import CountVectorizer  # type: ignore[import-untyped]
        from sklearn.preprocessing import normalize  # type: ignore[import-untyped]

        n = len(table)
        if len(self.vocabulary_):
            counter = CountVectorizer(
                vocabulary={str(t): i for i, t in enumerate(self.vocabulary_)},
                token_pattern=_WORDS,
                dtype=np.float32,
            )
            tf = csr_matrix(counter.transform(item_texts(table)), dtype=np.float32)
            tf.data = (1.0 + np.log(tf.data)).astype(np.float32)
            text = normalize(csr_matrix(tf.multiply(self.idf_.astype(np.float32)[np.newaxis, :])))
        else:
            text = csr_matrix((n, 0), dtype=np.float32)
        blocks = [text]
        for known, values in ((self.categories_, table.category), (self.brands_, table.brand)):
            pos = np.minimum(np.searchsorted(known, values), max(len(known) - 1, 0))
            hit = (known[pos] == values) if len(known) else np.zeros(n, dtype=bool)
            rows = np.flatnonzero(hit)
            data = np.full(len(rows), self.attribute_weight, dtype=np.float32)
            blocks.append(csr_matrix((data, (rows, pos[hit])), shape=(n, len(known))))
        return csr_matrix(normalize(hstack(blocks, format="csr")), dtype=np.float32)

    def _scores(self, userids: Rows, user_items: csr_matrix, recalculate_user: bool) -> Scores:
        weights = csr_matrix(user_items, dtype=np.float32, copy=True)
        weights.data = np.maximum(weights.data, 0)
        totals = np.asarray(weights.sum(axis=1)).reshape(-1)
        if weights.shape[0] == 1:  # serving: the profile as a dense vector, then one product
            weights.data = weights.data.astype(np.float64) / max(float(totals[0]), 1e-12)
            dense = row_times(weights, self.item_vectors_)
            return np.asarray(self.item_vectors_ @ dense, dtype=np.float32)[np.newaxis, :]
        means = csr_matrix(weights.multiply(1.0 / np.maximum(totals, 1e-12)[:, np.newaxis]))
        profile = means @ self.item_vectors_
        return np.asarray((profile @ self.item_vectors_.T).todense(), dtype=np.float32)

    def _similar(self, itemids: npt.NDArray[np.intp]) -> Scores:
        return np.asarray((self.item_vectors_[itemids] @ self.item_vectors_.T).todense(), dtype=np.float32)
