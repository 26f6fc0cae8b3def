"""What the storefront reads: items from the catalogue's table, recent visitors from the
event log, and the view-models the templates show. SQLAlchemy core; read only."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

import orjson
import sqlalchemy as sa

from surmesure.catalog.store import items
from surmesure.events.store import events

__all__ = [
    "Product",
    "by_category",
    "category_tree",
    "get_product",
    "item_svg",
    "recent_visitors",
    "summarize_event",
]

_COLUMNS = (
    items.c.item_id,
    items.c.title,
    items.c.price,
    items.c.currency,
    items.c.category_path,
    items.c.category,
    items.c.brand,
    items.c.stock,
    items.c.available,
    items.c.attributes,
    items.c.tags,
)


@dataclass(frozen=True, slots=True)
class Product:
    id: str
    title: str
    price: float | None
    currency: str
    category_path: list[str]
    category: str
    brand: str
    stock: int | None
    available: bool
    rating: float | None
    tags: list[str]

    @property
    def url(self) -> str:
        return f"/product/{self.id}"

    @property
    def image(self) -> str:
        return f"/static/img/{self.id}.svg"

    def properties(self, quantity: int | None = None) -> dict[str, Any]:
        """The Segment e-commerce properties of this product, as the generator sends them."""
        props: dict[str, Any] = {
            "product_id": self.id,
            "sku": self.id.upper(),
            "name": self.title,
            "category": self.category,
            "brand": self.brand,
            "price": self.price,
            "currency": self.currency,
        }
        if quantity is None:
            props["url"] = self.url
            props["image_url"] = self.image
        else:
            props["quantity"] = quantity
        return props


def _product(row: sa.RowMapping) -> Product:
    attributes = row["attributes"] or {}
    rating = attributes.get("rating")
    return Product(
        id=row["item_id"],
        title=row["title"],
        price=row["price"],
        currency=row["currency"] or "EUR",
        category_path=list(row["category_path"] or []),
        category=row["category"] or "",
        brand=row["brand"] or "",
        stock=row["stock"],
        available=bool(row["available"]),
        rating=float(rating) if isinstance(rating, int | float) else None,
        tags=list(row["tags"] or []),
    )


def category_tree(conn: sa.Connection) -> dict[str, dict[str, int]]:
    """root -> leaf -> number of items, in name order."""
    tree: dict[str, dict[str, int]] = {}
    query = sa.select(items.c.category_path, sa.func.count()).group_by(items.c.category_path)
    for path, count in conn.execute(query):
        if not path:
            continue
        leaf = path[-1] if len(path) > 1 else path[0]
        leaves = tree.setdefault(path[0], {})
        leaves[leaf] = leaves.get(leaf, 0) + int(count)
    return {root: dict(sorted(tree[root].items())) for root in sorted(tree)}


def by_category(
    conn: sa.Connection, name: str, *, limit: int, offset: int = 0, exclude: str | None = None
) -> tuple[list[Product], int]:
    """Items whose root or leaf category is ``name``, available first."""
    text = sa.type_coerce(items.c.category_path, sa.Text)
    root_prefix = orjson.dumps([name]).decode()[:-1] + ","
    where = sa.or_(items.c.category == name, sa.func.substr(text, 1, len(root_prefix)) == root_prefix)
    if exclude is not None:
        where = sa.and_(where, items.c.item_id != exclude)
    total = int(conn.execute(sa.select(sa.func.count()).select_from(items).where(where)).scalar_one())
    query = (
        sa.select(*_COLUMNS)
        .where(where)
        .order_by(items.c.available.desc(), items.c.item_id)
        .limit(limit)
        .offset(offset)
    )
    return [_product(row) for row in conn.execute(query).mappings()], total


def get_product(conn: sa.Connection, item_id: str) -> Product | None:
    row = conn.execute(sa.select(*_COLUMNS).where(items.c.item_id == item_id)).mappings().first()
    return None if row is None else _product(row)


def recent_visitors(conn: sa.Connection, *, limit: int = 12, scan: int = 3000) -> list[dict[str, Any]]:
    """The people behind the latest events: user id when known, else anonymous id."""
    query = (
        sa.select(events.c.user_id, events.c.anonymous_id, events.c.timestamp_ms, events.c.received_ms)
        .order_by(events.c.seq.desc())
        .limit(scan)
    )
    seen: dict[str, dict[str, Any]] = {}
    for user_id, anonymous_id, ts_ms, received_ms in conn.execute(query):
        who = user_id or anonymous_id
        if not who:
            continue
        entry = seen.get(who)
        if entry is None:
            if len(seen) >= limit:
                continue
            entry = seen[who] = {
                "id": who,
                "kind": "user" if user_id else "anonymous",
                "last_seen": _when(max(ts_ms, 0)),
                "events": 0,
                "received": _when(received_ms),
            }
        entry["events"] += 1
    return list(seen.values())


def _when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def summarize_event(body: Mapping[str, Any]) -> dict[str, str]:
    """One line of the 'last events' table: when, what, and the detail worth reading."""
    kind = str(body.get("type", ""))
    props = body.get("properties") or {}
    what = str(body.get("event") or kind)
    detail = ""
    if kind == "page":
        what = "page"
        detail = str(body.get("name") or props.get("path") or "")
    elif kind == "identify":
        traits = body.get("traits") or {}
        detail = ", ".join(f"{k}={v}" for k, v in sorted(traits.items()) if isinstance(v, str | int | float))
    elif isinstance(props.get("products"), list):
        names = [str(p.get("name") or p.get("product_id")) for p in props["products"] if isinstance(p, dict)]
        detail = f"{props.get('revenue', '')} {props.get('currency', '')} · " + ", ".join(names[:4])
    elif props.get("product_id"):
        name = props.get("name", props["product_id"])
        detail = f"{name} ({props.get('category', '')}, {props.get('price', '')})"
    ids = body.get("userId") or body.get("anonymousId") or ""
    when = str(body.get("timestamp", ""))[:19].replace("T", " ")
    return {"when": when, "what": what, "detail": detail, "who": ids}


_PALETTE = ("#f4a261", "#2a9d8f", "#e76f51", "#457b9d", "#8d99ae", "#e9c46a", "#6d597a", "#52b788", "#bc6c25")


def item_svg(product: Product | None, item_id: str) -> str:
    """A placeholder picture: the category's colour, the brand's initials, the leaf name."""
    root = product.category_path[0] if product and product.category_path else item_id
    digest = hashlib.blake2b(root.encode(), digest_size=2).digest()
    color = _PALETTE[digest[0] % len(_PALETTE)]
    shade = 18 + digest[1] % 30
    brand = product.brand if product else ""
    initials = "".join(word[0] for word in brand.split()[:2]).upper() or "?"
    leaf = product.category if product else ""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 400 300" role="img">'
        f'<rect width="400" height="300" fill="{color}"/>'
        f'<circle cx="320" cy="60" r="{shade + 60}" fill="#ffffff" opacity="0.18"/>'
        f'<circle cx="70" cy="260" r="{shade + 40}" fill="#000000" opacity="0.08"/>'
        '<text x="200" y="160" font-family="Georgia, serif" font-size="84" fill="#ffffff" '
        f'text-anchor="middle">{escape(initials)}</text>'
        '<text x="200" y="215" font-family="Helvetica, Arial, sans-serif" font-size="22" fill="#ffffff" '
        f'opacity="0.9" text-anchor="middle">{escape(leaf)}</text></svg>'
    )
