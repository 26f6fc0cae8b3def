"""Wire models of the catalogue and the pure mapping between them and ``items`` rows.

:class:`ItemIn` is what a client may send (``PUT /v1/items``, an import file). Unknown
fields are refused rather than ignored, so bookkeeping columns (``created_ms``,
``updated_ms``, ``category``) can never be set from outside and a misspelt field is
reported instead of silently lost. :class:`ItemPublic` is what reads return.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from surmesure.clock import utc_from_ms, utc_ms

__all__ = [
    "ITEM_FIELDS",
    "ITEM_TYPES",
    "MAX_ATTRIBUTES_BYTES",
    "MAX_ITEMS_PER_REQUEST",
    "ItemIn",
    "ItemPublic",
    "ItemType",
    "from_row",
    "parse_category_path",
    "problems",
    "to_row",
]

ItemType = Literal["product", "article", "offer"]
ITEM_TYPES: tuple[str, ...] = ("product", "article", "offer")

#: items in one ``PUT /v1/items`` request
MAX_ITEMS_PER_REQUEST = 1000
#: size of ``attributes`` once serialized as JSON
MAX_ATTRIBUTES_BYTES = 16 * 1024
#: PostgreSQL's INTEGER, the ``stock`` column
_MAX_STOCK = 2**31 - 1

_Segment = Annotated[str, StringConstraints(max_length=255)]
_Tag = Annotated[str, StringConstraints(max_length=100)]
_URL_PREFIXES = ("http://", "https://", "/")
_PATTERN_MESSAGES = {
    "id": "must not contain control characters (newlines, tabs...)",
    "language": "must be a language tag such as fr or fr-FR",
}


def parse_category_path(value: str) -> list[str]:
    """``"A > B > C"`` or ``"A/B/C"`` -> ``["A", "B", "C"]``; ``>`` wins when both appear,
    so ``"Tops/Shirts > Men"`` is two levels."""
    separator = ">" if ">" in value else "/"
    return [part.strip() for part in value.split(separator) if part.strip()]


def _clean_list(values: list[str]) -> list[str]:
    """Strip, drop empties and duplicates, keep the first order."""
    seen: dict[str, None] = {}
    for value in values:
        value = value.strip()
        if value:
            seen.setdefault(value, None)
    return list(seen)


def _empty_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


class ItemIn(BaseModel):
    """One item as a client sends it; only ``id`` and ``title`` are required."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)

    id: str = Field(min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$", description="Your id.")
    type: ItemType = Field(default="product", description="product, article or offer.")
    title: str = Field(min_length=1, max_length=1000)
    url: str | None = Field(default=None, max_length=2048, description="http(s) URL or a /path.")
    image: str | None = Field(default=None, max_length=2048, description="http(s) URL or a /path.")
    price: float | None = Field(default=None, ge=0, le=1e15, allow_inf_nan=False)
    currency: str | None = Field(default=None, min_length=3, max_length=3, description="ISO 4217, e.g. EUR.")
    category_path: list[_Segment] = Field(
        default_factory=list,
        max_length=20,
        description='Root first; also "A > B > C" or "A/B/C".',
    )
    brand: str | None = Field(default=None, max_length=255)
    tags: list[_Tag] = Field(default_factory=list, max_length=100)
    keywords: list[_Tag] = Field(default_factory=list, max_length=200)
    language: str | None = Field(
        default=None, max_length=16, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$", description="e.g. fr-FR"
    )
    stock: int | None = Field(default=None, ge=0, le=_MAX_STOCK)
    available: bool | None = Field(default=None, description="Default: stock is null or above 0.")
    published_at: datetime | None = None
    attributes: dict[str, Any] = Field(default_factory=dict, description="Free, JSON, at most 16 KB.")

    @field_validator("id", mode="before")
    @classmethod
    def _id_to_str(cls, value: Any) -> Any:
        # numeric ids are common in shop exports; they are strings here
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value

    @field_validator("type", mode="before")
    @classmethod
    def _lower_type(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("url", "image", "brand", "language", "price", "stock", "published_at", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return _empty_to_none(value)

    @field_validator("currency", mode="before")
    @classmethod
    def _upper_currency(cls, value: Any) -> Any:
        value = _empty_to_none(value)
        if isinstance(value, str):
            value = value.strip().upper()
            if not (len(value) == 3 and value.isascii() and value.isalpha()):
                raise ValueError("must be a 3-letter ISO 4217 code such as EUR")
        return value

    @field_validator("language", mode="before")
    @classmethod
    def _language_underscore(cls, value: Any) -> Any:
        return value.replace("_", "-") if isinstance(value, str) else value

    @field_validator("url", "image", mode="after")
    @classmethod
    def _safe_url(cls, value: str | None) -> str | None:
        # javascript:, data: and friends would become script injection wherever the
        # catalogue is rendered (emails, web content)
        if value is not None and not value.lower().startswith(_URL_PREFIXES):
            raise ValueError("must be an http(s) URL or a path starting with /")
        return value

    @field_validator("category_path", mode="before")
    @classmethod
    def _split_path(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            return parse_category_path(value)
        return value

    @field_validator("tags", "keywords", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("category_path", mode="after")
    @classmethod
    def _strip_path(cls, value: list[str]) -> list[str]:
        return [part for part in (p.strip() for p in value) if part]

    @field_validator("tags", "keywords", mode="after")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        return _clean_list(value)

    @field_validator("published_at", mode="after")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @field_validator("attributes", mode="after")
    @classmethod
    def _small_attributes(cls, value: dict[str, Any]) -> dict[str, Any]:
        if any(len(key) > 255 for key in value):
            raise ValueError("attribute names are at most 255 characters")
        try:
            size = len(orjson.dumps(value))
        except TypeError as error:  # only reachable from Python callers
            raise ValueError(f"attributes must be JSON: {error}") from None
        if size > MAX_ATTRIBUTES_BYTES:
            raise ValueError(f"attributes are {size} bytes as JSON; at most {MAX_ATTRIBUTES_BYTES}")
        return value

    @model_validator(mode="after")
    def _default_available(self) -> ItemIn:
        if self.available is None:
            # frozen model: set the derived default once, at validation time
            object.__setattr__(self, "available", self.stock is None or self.stock > 0)
        return self


#: the fields a client may send, in a stable order (CSV columns, error messages)
ITEM_FIELDS: tuple[str, ...] = tuple(ItemIn.model_fields)


class ItemPublic(BaseModel):
    """An item as stored, with the leaf ``category`` and bookkeeping times."""

    id: str
    type: ItemType
    title: str
    url: str | None
    image: str | None
    price: float | None
    currency: str | None
    category_path: list[str]
    category: str | None
    brand: str | None
    tags: list[str]
    keywords: list[str]
    language: str | None
    stock: int | None
    available: bool
    published_at: datetime | None
    attributes: dict[str, Any]
    created_at: datetime
    updated_at: datetime


def to_row(item: ItemIn, now_ms: int) -> dict[str, Any]:
    """The ``items`` row for ``item``; an upsert keeps ``created_ms`` of an existing row."""
    return {
        "item_id": item.id,
        "type": item.type,
        "title": item.title,
        "url": item.url,
        "image": item.image,
        "price": item.price,
        "currency": item.currency,
        "category_path": list(item.category_path),
        "category": item.category_path[-1] if item.category_path else None,
        "brand": item.brand,
        "tags": list(item.tags),
        "keywords": list(item.keywords),
        "language": item.language,
        "stock": item.stock,
        "available": bool(item.available),
        "published_ms": utc_ms(item.published_at) if item.published_at is not None else None,
        "attributes": dict(item.attributes),
        "created_ms": now_ms,
        "updated_ms": now_ms,
    }


def from_row(row: Mapping[Any, Any]) -> ItemPublic:
    """The public shape of a stored ``items`` row (a ``Row._mapping`` or a dict)."""
    published = row["published_ms"]
    return ItemPublic(
        id=row["item_id"],
        type=row["type"],
        title=row["title"],
        url=row["url"],
        image=row["image"],
        price=row["price"],
        currency=row["currency"],
        category_path=row["category_path"],
        category=row["category"],
        brand=row["brand"],
        tags=row["tags"],
        keywords=row["keywords"],
        language=row["language"],
        stock=row["stock"],
        available=bool(row["available"]),
        published_at=utc_from_ms(published) if published is not None else None,
        attributes=row["attributes"],
        created_at=utc_from_ms(row["created_ms"]),
        updated_at=utc_from_ms(row["updated_ms"]),
    )


def problems(error: ValidationError) -> list[dict[str, str]]:
    """Each problem of a failed :class:`ItemIn` validation as ``{"field", "message"}``."""
    out: list[dict[str, str]] = []
    for entry in error.errors(include_url=False):
        field = ".".join(str(part) for part in entry["loc"]) or "item"
        kind = entry["type"]
        message = entry["msg"]
        if kind == "extra_forbidden":
            message = f"unknown field; the fields are: {', '.join(ITEM_FIELDS)}"
        elif kind == "model_type":
            message = "an item must be a JSON object"
        elif kind == "string_pattern_mismatch" and field in _PATTERN_MESSAGES:
            message = _PATTERN_MESSAGES[field]
        elif kind == "value_error":
            message = message.removeprefix("Value error, ")
        out.append({"field": field, "message": message})
    return out
