"""A synthetic shop with a documented latent model: a catalogue, people and their events.

Pure and seeded: ``generate(people=..., items=..., seed=..., now=...)`` returns the same
items, events and latent truth for the same arguments, built from one
``numpy.random.default_rng(seed)``. Items are dicts in the catalogue's wire shape
(``PUT /v1/items``), events dicts in Segment's wire shape (``POST /v1/batch``).

The latent model
================
Catalogue
    31 leaf categories under 9 roots (:data:`surmesure.demo._vocab.TREE`); each leaf
    ``c`` has a median price ``m_c``. Each root has 3-5 brands; brand ``b`` has a price
    tier ``t_b ~ LogNormal(0, 0.35)``. The first 31 items cover every leaf once, the
    others draw their leaf uniformly; an item's brand is uniform among its root's
    brands. Price ``p_i = m_c * t_b * exp(0.45 * N(0, 1))`` rounded down to ``x.99``
    (log-normal). Appeal ``a_i ~ LogNormal(0, 0.8)`` makes popularity long-tailed; the
    public ``attributes.rating`` is a noisy function of it. 8% of items are out of
    stock (``stock = 0``, ``available = false``); others have ``1 + Geometric(1/40)``
    units. Published uniformly over the two years before ``now``.
People
    Category taste ``theta_p ~ Dirichlet(0.1 * 1_31)`` over leaves (one to three favourites
    each); brand taste ``beta_p ~ Dirichlet(0.5 * 1_B)`` over all brands; price
    sensitivity ``s_p ~ LogNormal(0, 0.5)``; visit rate ``lambda_p ~ Gamma(1.5, 0.5)``
    sessions per 30 days. 60% hold an account (name, email, user id
    ``user_id_for_email(email)``; half of them also a ``crm_id``). Each person has
    ``1 + Binomial(2, 0.25)`` devices (an anonymousId and a user agent each, the first
    used in 70% of sessions). Consent, answered in the banner by everyone: analytics
    granted by 97%, personalization by 85%, marketing by 60%. A preferred local hour
    (evening 60%, lunch 25%, morning 15%), a locale and time zone, and traffic-source
    preferences ``pi_p ~ Dirichlet(3, 1.5, 1, 0.5)`` over direct, search, email (only
    with marketing consent) and social.
Sessions
    ``N_p = min(90, 1 + Poisson(3 * lambda_p))`` sessions on distinct days among the 90
    before ``now``, each at the preferred hour ``+ N(0, 1.5)`` hours (local time).
    A session lands on the home page (direct), a category page (email) or a product
    page (search, social; ``context.campaign`` says which), then views
    ``V = 1 + Poisson(2)`` products (at most 12). The first category is drawn from
    ``theta_p``; each next view stays in the current category with probability 0.75,
    else redraws from ``theta_p``. Within leaf ``c`` item ``i`` is chosen with
    probability proportional to ``exp(u_pi)``, where
    ``u_pi = log a_i + log(B_r * beta~_pb) - s_p * log(p_i / m_c)`` and ``beta~_p`` is
    ``beta_p`` renormalized over the ``B_r`` brands of the root (minus 3 for a product
    already seen in the session). Each product view is a
    ``page`` then a ``Product Viewed``. An in-stock viewed product is added to the cart
    with probability ``sigmoid(-2.5 + 0.5 * log(B_r * beta~_pb) - 1.5 * s_p * log(p_i / m_c))``
    (quantity 2 with probability 0.1). A session ending with a non-empty cart
    completes the order with probability ``sigmoid(-0.2 - 0.8 * s_p * log(mean p/m))``:
    a ``Cart`` page, then ``Order Completed`` with every cart line.
Identity
    An account holder first logs in during a session drawn uniformly among theirs:
    earlier sessions are anonymous, and an ``identify`` carrying both the device's
    anonymousId and the userId (traits ``email``, ``name``, ``crm_id``) stitches them.
    A device that saw a login sends the userId from then on; in a later session on a
    new device the person logs in at the start with probability 0.6, or at checkout.
    People without an account stay anonymous (guest checkout).

So views >= adds >= orders, the categories a person's events mention follow
``theta_p``, and :attr:`LatentPerson.top_categories` is what a unified profile's
category affinity should rank first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from surmesure.demo import _vocab
from surmesure.demo._sessions import Catalogue, Population, simulate

__all__ = ["CURRENCY", "DemoShop", "LatentPerson", "generate", "item_image", "user_id_for_email"]

CURRENCY = "EUR"
OUT_OF_STOCK_SHARE = 0.08
ACCOUNT_SHARE = 0.6
CONSENT_GRANTED = {"analytics": 0.97, "personalization": 0.85, "marketing": 0.6}


@dataclass(frozen=True, slots=True)
class LatentPerson:
    """The hidden truth about one simulated person, for tests and the docs."""

    index: int
    user_id: str | None
    email: str | None
    name: str | None
    crm_id: str | None
    anonymous_ids: tuple[str, ...]
    #: leaf categories by decreasing taste (the top 3)
    top_categories: tuple[str, ...]
    top_brands: tuple[str, ...]
    price_sensitivity: float
    visit_rate: float
    consent: dict[str, bool]
    sessions: int


@dataclass(frozen=True, slots=True)
class DemoShop:
    items: list[dict[str, Any]]
    events: list[dict[str, Any]]
    people: list[LatentPerson]
    seed: int
    now: datetime
    stats: dict[str, int] = field(default_factory=dict)


def user_id_for_email(email: str) -> str:
    """The storefront's user id for an email: ``u-`` and two FNV-1a 32-bit hashes.

    Computed the same way by the storefront's JavaScript at login, so no email ever
    becomes an identifier in clear.
    """
    data = email.strip().lower().encode()
    return "u-" + _fnv1a(data, 0x811C9DC5) + _fnv1a(data, 0x050C5D1F)


def _fnv1a(data: bytes, offset: int) -> str:
    value = offset
    for byte in data:
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return f"{value:08x}"


def item_image(item_id: str) -> str:
    """Placeholder image path served by the demo storefront."""
    return f"/static/img/{item_id}.svg"


def generate(
    *, people: int = 3000, items: int = 2000, seed: int = 42, now: datetime | None = None, days: int = 90
) -> DemoShop:
    """Generate the demo shop; ``now`` defaults to the current time (pass it for determinism)."""
    if people < 1 or items < 1:
        raise ValueError("people and items must be at least 1")
    now = (now or datetime.now(UTC)).astimezone(UTC)
    rng = np.random.default_rng(seed)
    catalogue, item_dicts = _catalogue(rng, items, now)
    population, truth = _people(rng, people, catalogue, days)
    events, stats = simulate(rng, catalogue, population, now=now, days=days, seed=seed)
    latent = [
        LatentPerson(**{**base, "sessions": int(population.sessions[i])}) for i, base in enumerate(truth)
    ]
    return DemoShop(items=item_dicts, events=events, people=latent, seed=seed, now=now, stats=stats)


def _catalogue(rng: np.random.Generator, n: int, now: datetime) -> tuple[Catalogue, list[dict[str, Any]]]:
    roots = list(_vocab.TREE)
    leaves = [(root, leaf) for root in roots for leaf in _vocab.TREE[root]]
    brands = [(root, brand) for root in roots for brand in _vocab.BRANDS[root]]
    brand_tier = rng.lognormal(0.0, 0.35, len(brands))
    # every leaf gets one item first, so small catalogues still cover the tree
    extra = rng.integers(0, len(leaves), max(0, n - len(leaves)))
    leaf_of = np.concatenate([np.arange(min(n, len(leaves))), extra])
    root_index = {root: r for r, root in enumerate(roots)}
    leaf_root = np.array([root_index[root] for root, _ in leaves])
    brand_root = np.array([root_index[root] for root, _ in brands])
    brands_of_root = [np.flatnonzero(brand_root == r) for r in range(len(roots))]
    pick = rng.random(n)
    brand_of = np.array(
        [
            brands_of_root[leaf_root[c]][int(u * len(brands_of_root[leaf_root[c]]))]
            for c, u in zip(leaf_of, pick, strict=True)
        ]
    )
    median = np.array([_vocab.TREE[root][leaf][0] for root, leaf in leaves])
    raw_price = median[leaf_of] * brand_tier[brand_of] * np.exp(0.45 * rng.standard_normal(n))
    price = np.floor(np.maximum(raw_price, 1.0)) + 0.99
    appeal = rng.lognormal(0.0, 0.8, n)
    rating = np.clip(3.6 + 0.5 * np.log(appeal) + rng.normal(0.0, 0.3, n), 1.0, 5.0)
    out_of_stock = rng.random(n) < OUT_OF_STOCK_SHARE
    stock = np.where(out_of_stock, 0, 1 + rng.geometric(1 / 40, n))
    age_days = rng.uniform(0.0, 730.0, n)
    words = rng.integers(0, 1 << 30, (n, 4))
    item_dicts: list[dict[str, Any]] = []
    for i in range(n):
        root, leaf = leaves[leaf_of[i]]
        brand = brands[brand_of[i]][1]
        nouns = _vocab.TREE[root][leaf][1]
        noun = nouns[words[i, 0] % len(nouns)]
        adjective = _vocab.ADJECTIVES[words[i, 1] % len(_vocab.ADJECTIVES)]
        color = _vocab.COLORS[words[i, 2] % len(_vocab.COLORS)]
        material = _vocab.MATERIALS[words[i, 3] % len(_vocab.MATERIALS)]
        item_id = f"p{i + 1:05d}"
        item_dicts.append(
            {
                "id": item_id,
                "type": "product",
                "title": f"{brand} {adjective} {noun}",
                "url": f"/product/{item_id}",
                "image": item_image(item_id),
                "price": float(price[i]),
                "currency": CURRENCY,
                "category_path": [root, leaf],
                "brand": brand,
                "tags": [adjective.lower(), color, material],
                "keywords": sorted({*noun.lower().split(), leaf.lower(), root.lower(), brand.lower()}),
                "language": "en",
                "stock": int(stock[i]),
                "available": not bool(out_of_stock[i]),
                "published_at": (now - timedelta(days=float(age_days[i]))).isoformat(timespec="seconds"),
                "attributes": {"color": color, "material": material, "rating": round(float(rating[i]), 1)},
            }
        )
    catalogue = Catalogue(
        ids=[d["id"] for d in item_dicts],
        titles=[d["title"] for d in item_dicts],
        leaves=[leaf for _, leaf in leaves],
        roots=roots,
        brands=[name for _, name in brands],
        leaf_of=leaf_of,
        leaf_root=leaf_root,
        brand_of=brand_of,
        brand_root=brand_root,
        price=price,
        rel_price=price / median[leaf_of],
        appeal=appeal,
        in_stock=~out_of_stock,
    )
    return catalogue, item_dicts


def _people(
    rng: np.random.Generator, n: int, cat: Catalogue, days: int
) -> tuple[Population, list[dict[str, Any]]]:
    n_leaves, n_brands = len(cat.leaves), len(cat.brands)
    theta = rng.dirichlet(np.full(n_leaves, 0.1), n)
    beta = rng.dirichlet(np.full(n_brands, 0.5), n)
    sensitivity = rng.lognormal(0.0, 0.5, n)
    visit_rate = rng.gamma(1.5, 0.5, n)
    sessions = np.minimum(days, 1 + rng.poisson(3.0 * visit_rate))
    account = rng.random(n) < ACCOUNT_SHARE
    has_crm = account & (rng.random(n) < 0.5)
    consent = {purpose: rng.random(n) < share for purpose, share in CONSENT_GRANTED.items()}
    devices = 1 + rng.binomial(2, 0.25, n)
    slot = rng.choice(3, n, p=[0.6, 0.25, 0.15])
    hour = np.array([20.5, 12.5, 8.5])[slot] + rng.normal(0.0, 1.0, n)
    locale_share = np.array([share for _, _, share in _vocab.LOCALES])
    locale = rng.choice(len(_vocab.LOCALES), n, p=locale_share / locale_share.sum())
    sources = rng.dirichlet(np.array([3.0, 1.5, 1.0, 0.5]), n)
    sources[~consent["marketing"], 2] = 0.0
    sources /= sources.sum(axis=1, keepdims=True)
    first = rng.integers(0, len(_vocab.FIRST_NAMES), n)
    last = rng.integers(0, len(_vocab.LAST_NAMES), n)
    device_ua = rng.integers(0, len(_vocab.USER_AGENTS), (n, 3))
    anon = rng.integers(0, 256, (n, 3, 16), dtype=np.uint8)
    brand_logit = _brand_logit(cat, beta)
    utility = _utility(cat, brand_logit, sensitivity)
    truth: list[dict[str, Any]] = []
    anonymous_ids: list[list[str]] = []
    user_ids: list[str | None] = []
    traits: list[dict[str, str]] = []
    for p in range(n):
        ids = [str(uuid.UUID(bytes=anon[p, d].tobytes(), version=4)) for d in range(devices[p])]
        anonymous_ids.append(ids)
        person: dict[str, str] = {}
        if account[p]:
            name = f"{_vocab.FIRST_NAMES[first[p]]} {_vocab.LAST_NAMES[last[p]]}"
            email = _ascii(name).replace(" ", ".").lower() + f".{p + 1}@example.com"
            person = {"email": email, "name": name}
            if has_crm[p]:
                person["crm_id"] = f"CRM-{100000 + p}"
        traits.append(person)
        user_ids.append(user_id_for_email(person["email"]) if person else None)
        truth.append(
            {
                "index": p,
                "user_id": user_ids[p],
                "email": person.get("email"),
                "name": person.get("name"),
                "crm_id": person.get("crm_id"),
                "anonymous_ids": tuple(ids),
                "top_categories": tuple(cat.leaves[c] for c in _top(theta[p], 3)),
                "top_brands": tuple(cat.brands[b] for b in _top(beta[p], 3)),
                "price_sensitivity": float(sensitivity[p]),
                "visit_rate": float(visit_rate[p]),
                "consent": {purpose: bool(values[p]) for purpose, values in consent.items()},
            }
        )
    population = Population(
        theta_cdf=np.cumsum(theta, axis=1),
        brand_logit=brand_logit,
        sensitivity=sensitivity,
        utility=utility,
        sessions=sessions,
        user_ids=user_ids,
        traits=traits,
        anonymous_ids=anonymous_ids,
        device_ua=device_ua,
        consent=consent,
        hour=hour,
        locale=locale,
        sources_cdf=np.cumsum(sources, axis=1),
    )
    return population, truth


def _brand_logit(cat: Catalogue, beta: NDArray[np.float64]) -> NDArray[np.float32]:
    """``log(B_r * beta~_pb)`` per person and brand: brand taste renormalized in its root."""
    per_root = beta @ np.eye(len(cat.roots))[cat.brand_root]
    counts = np.bincount(cat.brand_root, minlength=len(cat.roots))
    share = beta / per_root[:, cat.brand_root] * counts[cat.brand_root]
    return np.log(np.maximum(share, 1e-12)).astype(np.float32)


def _utility(
    cat: Catalogue, brand_logit: NDArray[np.float32], sensitivity: NDArray[np.float64]
) -> NDArray[np.float32]:
    """``u_pi`` for every person and item (people x items, float32)."""
    brand = brand_logit[:, cat.brand_of]
    price_term = np.outer(sensitivity, np.log(cat.rel_price)).astype(np.float32)
    return np.log(cat.appeal).astype(np.float32)[None, :] + brand - price_term


def _top(weights: NDArray[np.float64], k: int) -> list[int]:
    return [int(i) for i in np.argsort(-weights, kind="stable")[:k]]


def _ascii(text: str) -> str:
    table = str.maketrans("éèëêüöäàçïîÉ", "eeeeuoaaciiE")
    return text.translate(table)
