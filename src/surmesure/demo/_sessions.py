"""Simulation of the demo shop's sessions: the funnel and identity parts of the latent
model documented in :mod:`surmesure.demo.generator`. Pure; one seeded generator."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from numpy.typing import NDArray

from surmesure.demo import _vocab

__all__ = ["LIBRARY", "SHOP_ORIGIN", "Catalogue", "Population", "simulate"]

SHOP_ORIGIN = "https://shop.example"
LIBRARY = {"name": "surmesure.js", "version": "0.1.0"}
SOURCES = ("direct", "search", "email", "social")
_CAMPAIGNS: dict[str, tuple[dict[str, str] | None, str]] = {
    "direct": (None, ""),
    "search": ({"source": "google", "medium": "organic"}, "https://www.google.com/"),
    "email": ({"source": "newsletter", "medium": "email", "name": "weekly-picks"}, ""),
    "social": ({"source": "instagram", "medium": "social"}, "https://www.instagram.com/"),
}
STAY_IN_CATEGORY = 0.75
LATER_LOGIN_AT_START = 0.6
SEEN_PENALTY = 3.0


@dataclass(frozen=True, slots=True)
class Catalogue:
    ids: list[str]
    titles: list[str]
    leaves: list[str]
    roots: list[str]
    brands: list[str]
    leaf_of: NDArray[np.int64]
    leaf_root: NDArray[np.int64]
    brand_of: NDArray[np.int64]
    brand_root: NDArray[np.int64]
    price: NDArray[np.float64]
    rel_price: NDArray[np.float64]
    appeal: NDArray[np.float64]
    in_stock: NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class Population:
    theta_cdf: NDArray[np.float64]
    brand_logit: NDArray[np.float32]
    sensitivity: NDArray[np.float64]
    utility: NDArray[np.float32]
    sessions: NDArray[np.int64]
    user_ids: list[str | None]
    traits: list[dict[str, str]]
    anonymous_ids: list[list[str]]
    device_ua: NDArray[np.int64]
    consent: dict[str, NDArray[np.bool_]]
    hour: NDArray[np.float64]
    locale: NDArray[np.int64]
    sources_cdf: NDArray[np.float64]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class _IsoFormatter:
    """``2025-06-01T12:00:00.000Z`` from epoch milliseconds; dates are cached (fast)."""

    def __init__(self) -> None:
        self._days: dict[int, str] = {}

    def __call__(self, ms: int) -> str:
        day, rest = divmod(ms, 86_400_000)
        text = self._days.get(day)
        if text is None:
            text = self._days[day] = (date(1970, 1, 1) + timedelta(days=day)).isoformat()
        seconds, millis = divmod(rest, 1000)
        hours, seconds = divmod(seconds, 3600)
        minutes, seconds = divmod(seconds, 60)
        return f"{text}T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


class _Pool:
    """Random numbers drawn in blocks: scalar draws from numpy cost microseconds each."""

    def __init__(self, rng: np.random.Generator, size: int = 1 << 14) -> None:
        self.rng, self.size = rng, size
        self._uniform: list[float] = []
        self._dwell: list[int] = []

    def random(self) -> float:
        if not self._uniform:
            self._uniform = self.rng.random(self.size).tolist()
        return self._uniform.pop()

    def dwell_ms(self) -> int:
        """Time to the next event of a session: 2 s plus an exponential of mean 30 s."""
        if not self._dwell:
            self._dwell = (2000 + self.rng.exponential(30000.0, self.size)).astype(np.int64).tolist()
        return self._dwell.pop()


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:  # no time zone database: local time is UTC
        return None


class _Session:
    """Builds one session's events; ``user_id`` is set once the person logs in."""

    def __init__(self, sim: _Simulation, p: int, device: int, start_ms: int, source: str) -> None:
        self.sim, self.p, self.t = sim, p, start_ms
        self.anonymous_id = sim.pop.anonymous_ids[p][device]
        self.user_id: str | None = None
        self.referrer = _CAMPAIGNS[source][1]
        self.campaign = _CAMPAIGNS[source][0]
        locale, tz, _ = _vocab.LOCALES[int(sim.pop.locale[p])]
        device_type, agent = _vocab.USER_AGENTS[int(sim.pop.device_ua[p, device])]
        self.base: dict[str, Any] = {"locale": locale, "timezone": tz, "userAgent": agent}
        self.device = device_type
        self.consent = {purpose: bool(values[p]) for purpose, values in sim.pop.consent.items()}
        self.events: list[dict[str, Any]] = []

    def _emit(self, event: dict[str, Any], page: dict[str, str]) -> None:
        self.t += self.sim.pool.dwell_ms()
        context: dict[str, Any] = {
            **self.base,
            "device": {"type": self.device},
            "library": dict(LIBRARY),
            "page": dict(page),
            "consent": {"categoryPreferences": dict(self.consent)},
        }
        if self.campaign is not None and not self.events:
            context["campaign"] = dict(self.campaign)
        event["anonymousId"] = self.anonymous_id
        if self.user_id is not None:
            event["userId"] = self.user_id
        event["timestamp"] = self.t
        event["context"] = context
        self.events.append(event)

    def page(self, name: str, path: str, category: str | None = None) -> dict[str, str]:
        page = {
            "path": path,
            "url": SHOP_ORIGIN + path,
            "title": f"{name} · Demo shop",
            "referrer": self.referrer,
        }
        properties: dict[str, Any] = dict(page)
        if category is not None:
            properties["category"] = category
        self._emit({"type": "page", "name": name, "properties": properties}, page)
        self.referrer = page["url"]
        return page

    def track(self, name: str, properties: dict[str, Any], page: dict[str, str]) -> None:
        self._emit({"type": "track", "event": name, "properties": properties}, page)

    def login(self) -> None:
        page = self.page("Login", "/login")
        self.user_id = self.sim.pop.user_ids[self.p]
        traits = dict(self.sim.pop.traits[self.p])
        self._emit({"type": "identify", "userId": self.user_id, "traits": traits}, page)


class _Simulation:
    def __init__(self, rng: np.random.Generator, cat: Catalogue, pop: Population, seed: int) -> None:
        self.rng, self.cat, self.pop, self.seed = rng, cat, pop, seed
        self.pool = _Pool(rng)
        self.items_of_leaf = [np.flatnonzero(cat.leaf_of == c) for c in range(len(cat.leaves))]
        self.orders = 0
        self.products = [
            {
                "product_id": cat.ids[i],
                "sku": cat.ids[i].upper(),
                "name": cat.titles[i],
                "category": cat.leaves[int(cat.leaf_of[i])],
                "brand": cat.brands[int(cat.brand_of[i])],
                "price": float(cat.price[i]),
            }
            for i in range(len(cat.ids))
        ]

    def category(self, p: int) -> int:
        leaf = int(np.searchsorted(self.pop.theta_cdf[p], self.pool.random() * self.pop.theta_cdf[p, -1]))
        while leaf < len(self.cat.leaves) and len(self.items_of_leaf[leaf]) == 0:
            leaf += 1  # small catalogues may leave a leaf empty: take the next one
        return leaf if leaf < len(self.cat.leaves) else int(self.cat.leaf_of[0])

    def item(self, p: int, leaf: int, seen: set[int]) -> int:
        candidates = self.items_of_leaf[leaf]
        scores = self.pop.utility[p, candidates] + self.rng.gumbel(size=len(candidates))
        if seen:  # people rarely open the same product twice in a session
            scores[np.isin(candidates, list(seen))] -= SEEN_PENALTY
        return int(candidates[int(scores.argmax())])

    def product(self, i: int, quantity: int | None = None) -> dict[str, Any]:
        props = dict(self.products[i])
        props["currency"] = "EUR"
        if quantity is None:
            props["url"] = f"/product/{self.cat.ids[i]}"
            props["image_url"] = f"/static/img/{self.cat.ids[i]}.svg"
        else:
            props["quantity"] = quantity
        return props

    def run(self, p: int, session: _Session, *, account: bool, first_login: bool, later: bool) -> None:
        """One session of person ``p``: landing, optional login, views, adds, checkout."""
        rng, cat, pop, pool = self.rng, self.cat, self.pop, self.pool
        leaf = self.category(p)
        views = min(12, 1 + int(rng.poisson(2.0)))
        if session.campaign is None:
            session.page("Home", "/")
        elif session.campaign["medium"] == "email":
            session.page(cat.leaves[leaf], f"/category/{cat.leaves[leaf]}", cat.leaves[leaf])
        logs_in = first_login or (later and pool.random() < LATER_LOGIN_AT_START)
        if account and session.user_id is None and logs_in:
            session.login()
        cart: dict[int, int] = {}
        seen: set[int] = set()
        for v in range(views):
            if v and pool.random() >= STAY_IN_CATEGORY:
                leaf = self.category(p)
            i = self.item(p, leaf, seen)
            seen.add(i)
            page = session.page(cat.titles[i], f"/product/{cat.ids[i]}", cat.leaves[leaf])
            session.track("Product Viewed", self.product(i), page)
            if not cat.in_stock[i]:
                continue
            brand = float(pop.brand_logit[p, cat.brand_of[i]])
            price_term = pop.sensitivity[p] * math.log(cat.rel_price[i])
            if pool.random() < _sigmoid(-2.5 + 0.5 * brand - 1.5 * price_term):
                quantity = 2 if pool.random() < 0.1 else 1
                cart[i] = cart.get(i, 0) + quantity
                session.track("Product Added", self.product(i, quantity), page)
        if not cart:
            return
        mean_rel = float(np.mean(np.log(cat.rel_price[list(cart)])))
        if pool.random() >= _sigmoid(-0.2 - 0.8 * pop.sensitivity[p] * mean_rel):
            return
        page = session.page("Cart", "/cart")
        if account and session.user_id is None and later:
            session.login()
            page = session.page("Cart", "/cart")
        self.orders += 1
        lines = [self.product(i, q) for i, q in cart.items()]
        revenue = round(sum(line["price"] * line["quantity"] for line in lines), 2)
        properties = {
            "order_id": f"o-{self.seed}-{self.orders:06d}",
            "revenue": revenue,
            "currency": "EUR",
            "products": lines,
        }
        session.track("Order Completed", properties, page)


def _session_start(rng: np.random.Generator, day: date, hour: float, zone: ZoneInfo | None) -> datetime:
    hours = (hour + rng.normal(0.0, 1.5)) % 24.0
    seconds = int(hours * 3600) + int(rng.integers(0, 60))
    local = datetime(day.year, day.month, day.day, tzinfo=zone or UTC) + timedelta(seconds=seconds)
    return local.astimezone(UTC)


def simulate(
    rng: np.random.Generator, cat: Catalogue, pop: Population, *, now: datetime, days: int, seed: int
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Every person's sessions, as Segment events sorted by time with deterministic ids."""
    sim = _Simulation(rng, cat, pop, seed)
    now_ms = int(now.timestamp() * 1000)
    zones = {tz: _zone(tz) for _, tz, _ in _vocab.LOCALES}
    keyed: list[tuple[int, int, int, dict[str, Any]]] = []
    for p in range(len(pop.user_ids)):
        n = int(pop.sessions[p])
        n_devices = len(pop.anonymous_ids[p])
        account = pop.user_ids[p] is not None
        first_login = int(rng.integers(0, n)) if account else n
        tz = _vocab.LOCALES[int(pop.locale[p])][1]
        today = now.astimezone(zones[tz] or UTC).date()
        offsets = np.sort(rng.choice(np.arange(1, days + 1), size=n, replace=False))[::-1]
        logged_devices: set[int] = set()
        order = 0
        for k, offset in enumerate(offsets):
            start = _session_start(rng, today - timedelta(days=int(offset)), float(pop.hour[p]), zones[tz])
            device = 0 if n_devices == 1 or rng.random() < 0.7 else int(rng.integers(1, n_devices))
            source = SOURCES[int(np.searchsorted(pop.sources_cdf[p], rng.random() * pop.sources_cdf[p, -1]))]
            session = _Session(sim, p, device, int(start.timestamp() * 1000), source)
            if device in logged_devices:
                session.user_id = pop.user_ids[p]
            sim.run(p, session, account=account, first_login=k == first_login, later=k > first_login)
            if session.user_id is not None:
                logged_devices.add(device)
            for event in session.events:
                keyed.append((min(event["timestamp"], now_ms - 1), p, order, event))
                order += 1
    keyed.sort(key=lambda entry: entry[:3])
    iso = _IsoFormatter()
    events: list[dict[str, Any]] = []
    for n_event, (ts, _p, _order, event) in enumerate(keyed):
        event["timestamp"] = iso(ts)
        event["messageId"] = f"demo-{seed}-{n_event:07d}"
        events.append(event)
    return events, _stats(events, pop)


def _stats(events: list[dict[str, Any]], pop: Population) -> dict[str, int]:
    stats = {"events": len(events), "sessions": int(pop.sessions.sum()), "people": len(pop.user_ids)}
    for event in events:
        key = event.get("event") or event["type"]
        stats[key] = stats.get(key, 0) + 1
    return stats
