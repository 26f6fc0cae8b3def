"""Serving rules: a filter is never violated (property-based), pins and boosts hold,
MMR raises intra-list diversity, exploration stays within its share, and every item
comes out with a reason."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from recdata import DAY_MS, NOW_MS, clusters

from surmesure.recommendations.algorithms import EASE, ContentBased
from surmesure.recommendations.items import ItemTable
from surmesure.recommendations.reasons import CODES, Reason, ReasonContext, phrase
from surmesure.recommendations.rerank import (
    History,
    Ranked,
    Rules,
    boost,
    cosine_similarity,
    explore,
    intra_list_diversity,
    pin,
    rerank,
    select_diverse,
)

CATEGORIES = ["Shoes", "Hats", "Bags", "Socks"]
LABELS = ["sale", "eco", "new", "bundle"]


@st.composite
def tables(draw: st.DrawFn) -> ItemTable:
    n = draw(st.integers(5, 40))
    cats = draw(st.lists(st.sampled_from(CATEGORIES), min_size=n, max_size=n))
    return ItemTable.build(
        [f"i{i}" for i in range(n)],
        category=cats,
        categories=[[c, *draw(st.lists(st.sampled_from(CATEGORIES), max_size=1))] for c in cats],
        labels=draw(st.lists(st.lists(st.sampled_from(LABELS), max_size=2), min_size=n, max_size=n)),
        price=draw(st.lists(st.one_of(st.none(), st.floats(1, 100)), min_size=n, max_size=n)),
        in_stock=draw(st.lists(st.booleans(), min_size=n, max_size=n)),
        group_id=draw(st.lists(st.sampled_from(["g1", "g2", "g3", ""]), min_size=n, max_size=n)),
    )


@st.composite
def rule_sets(draw: st.DrawFn) -> Rules:
    low = draw(st.one_of(st.none(), st.floats(1, 60)))
    return Rules(
        exclude_bought=draw(st.booleans()),
        exclude_bought_days=draw(st.one_of(st.none(), st.floats(1, 60))),
        exclude_seen_days=draw(st.one_of(st.none(), st.just(0.0), st.floats(1, 30))),
        in_stock_only=draw(st.booleans()),
        include_categories=draw(st.one_of(st.none(), st.frozensets(st.sampled_from(CATEGORIES), min_size=1))),
        exclude_categories=draw(st.frozensets(st.sampled_from(CATEGORIES), max_size=1)),
        labels_all=draw(st.frozensets(st.sampled_from(LABELS), max_size=1)),
        labels_any=draw(st.one_of(st.none(), st.frozensets(st.sampled_from(LABELS), min_size=1))),
        labels_none=draw(st.frozensets(st.sampled_from(LABELS), max_size=1)),
        price_low=low,
        price_high=draw(st.one_of(st.none(), st.floats(low or 1, 100))),
        one_per_group=draw(st.booleans()),
        diversity=draw(st.floats(0, 1)),
        max_per_category=draw(st.one_of(st.none(), st.integers(1, 3))),
        exploration=draw(st.floats(0, 1)),
        seed=draw(st.integers(0, 5)),
    )


@given(table=tables(), rules=rule_sets(), k=st.integers(1, 12), data=st.data())
@settings(max_examples=150, deadline=None)
def test_no_rule_is_ever_violated(table: ItemTable, rules: Rules, k: int, data: st.DataObject) -> None:
    n = len(table)
    scores = data.draw(st.lists(st.floats(-5, 5), min_size=n, max_size=n))
    candidates = Ranked(np.arange(n), np.array(scores))
    bought = np.array(data.draw(st.lists(st.integers(0, n - 1), max_size=5)), dtype=np.intp)
    viewed = np.array(data.draw(st.lists(st.integers(0, n - 1), max_size=5)), dtype=np.intp)
    ages = np.array(data.draw(st.lists(st.integers(0, 90), min_size=10, max_size=10)))
    history = History(
        viewed, NOW_MS - ages[: len(viewed)] * DAY_MS, bought, NOW_MS - ages[5:][: len(bought)] * DAY_MS
    )
    replenishable = np.array(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    novelty = np.linspace(1.0, 0.0, n)
    similarity = cosine_similarity(np.eye(n) + 0.1)
    out = rerank(candidates, k=k, table=table, rules=rules, history=history, now_ms=NOW_MS,
                 replenishable=replenishable, similarity=similarity, novelty=novelty)

    items = list(out.items)
    assert len(items) <= k
    assert len(set(items)) == len(items)
    assert all(isinstance(r, Reason) for r in out.reasons)
    explored = sum(r is not None and r.code == "explore" for r in out.reasons)
    assert explored <= np.floor(min(rules.exploration, 0.5) * k)
    for i in items:
        if rules.in_stock_only:
            assert table.in_stock[i]
        if rules.include_categories is not None:
            assert table.categories[i] & rules.include_categories
        assert not table.categories[i] & rules.exclude_categories
        assert rules.labels_all <= table.labels[i]
        if rules.labels_any is not None:
            assert table.labels[i] & rules.labels_any
        assert not table.labels[i] & rules.labels_none
        if rules.price_low is not None:
            assert table.price[i] >= rules.price_low
        if rules.price_high is not None:
            assert table.price[i] <= rules.price_high
        if not replenishable[i]:
            if rules.exclude_bought:
                recent = history.bought_ms[history.bought == i]
                window = rules.exclude_bought_days
                assert not (recent >= (NOW_MS - window * DAY_MS if window is not None else -np.inf)).any()
            if rules.exclude_seen_days != 0.0:
                recent = history.viewed_ms[history.viewed == i]
                window = rules.exclude_seen_days
                assert not (recent >= (NOW_MS - window * DAY_MS if window is not None else -np.inf)).any()
    if rules.one_per_group:
        groups = [table.group_id[i] for i in items]
        assert len(set(groups)) == len(groups)
    if rules.max_per_category is not None:
        cats = [table.category[i] for i in items]
        assert max(cats.count(c) for c in set(cats)) <= rules.max_per_category if cats else True


def test_pinned_items_take_their_positions_and_boosts_move_items_up() -> None:
    ranked = Ranked(np.array([5, 6, 7, 8]), np.array([4.0, 3.0, 2.0, 1.0]))
    pinned = pin(ranked, {9: 0, 7: 2}, k=4)
    assert list(pinned.items) == [9, 5, 7, 6]
    assert pinned.reasons[0] == Reason("pinned")
    assert boost(ranked, {8: 100.0}).items[0] == 8
    assert boost(ranked, {8: 2.01}).items[0] == 8, "a factor above 2 lifts even the last item to the top"


def test_mmr_raises_intra_list_diversity() -> None:
    """Candidates where the best items are near duplicates (same category and words)."""
    data = clusters(per_cluster=12)
    content = ContentBased().fit(data.user_items, item_table=data.table)
    similarity = cosine_similarity(content.item_vectors_)
    # shoes score highest, then hats
    scores = np.where(np.arange(data.n_items) < data.half, 2.0, 1.0) - np.arange(data.n_items) * 1e-3
    ranked = Ranked(np.arange(data.n_items), scores)
    plain = select_diverse(ranked, 6, similarity=similarity, lambda_=1.0)
    diverse = select_diverse(ranked, 6, similarity=similarity, lambda_=0.3)
    assert intra_list_diversity(diverse.items, similarity) > intra_list_diversity(plain.items, similarity)
    ilds = [
        intra_list_diversity(select_diverse(ranked, 6, similarity=similarity, lambda_=lam).items, similarity)
        for lam in (1.0, 0.7, 0.4, 0.1)
    ]
    assert ilds == sorted(ilds), "diversity rises with its weight"


@given(share=st.floats(0, 1), k=st.integers(1, 20), seed=st.integers(0, 100))
@settings(max_examples=60, deadline=None)
def test_exploration_never_takes_more_than_its_share(share: float, k: int, seed: int) -> None:
    pool = Ranked(np.arange(50), np.linspace(1, 0, 50))
    selected = pool.take(np.arange(k))
    out = explore(selected, pool, share=share, novelty=np.linspace(0, 1, 50), seed=seed)
    explored = [
        i for i, r in zip(out.items, out.reasons, strict=True) if r is not None and r.code == "explore"
    ]
    assert len(out) == k
    assert len(explored) <= int(np.floor(share * k))
    assert not set(explored) & set(selected.items[: k - len(explored)])
    again = explore(selected, pool, share=share, novelty=np.linspace(0, 1, 50), seed=seed)
    assert list(again.items) == list(out.items), "seeded"


def test_every_item_has_a_reason_that_names_a_real_item_of_the_person() -> None:
    data = clusters()
    ease = EASE(lambda_=10.0).fit(data.user_items)
    user = 2
    history = data.user_items[user].indices
    ids, scores = ease.recommend(user, data.user_items[user], N=20)
    def similarity(items: np.ndarray, hist: np.ndarray) -> np.ndarray:
        return ease._similar(hist)[:, items].T

    context = ReasonContext(
        history=list(history), history_kinds=["view"] * len(history), similarity=similarity
    )
    out = rerank(Ranked.of(ids, scores), k=6, table=data.table, reasons=context, now_ms=NOW_MS)
    assert len(out) == 6
    for reason in out.reasons:
        assert reason is not None
        assert reason.code == "viewed"
        assert reason.item in set(history)
        text = phrase(reason, data.table)
        assert text.startswith("Because you viewed ")
        assert str(data.table.title[reason.item]) in text


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_reason_code_has_a_phrase(code: str) -> None:
    table = ItemTable.build(["a"], title=["Blue mug"])
    text = phrase(Reason(code, item=0, category="Kitchen", brand="Acme"), table)
    assert text
    assert "{" not in text
    with pytest.raises(ValueError, match="unknown reason"):
        Reason("because")
