"""Wire models of the Segment-compatible tracking API (track, identify, page, screen,
alias, group, batch).

Only declared fields are read: anything else a client sends at the top level is
dropped, so internal fields (``receivedAt``, profile ids, sequence numbers) cannot be
set from outside. ``properties``, ``traits`` and ``context`` are free-form objects.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["EVENT_TYPES", "BatchIn", "EventIn", "IngestResult", "ItemError"]

EVENT_TYPES = ("track", "identify", "page", "screen", "alias", "group")

_ID = Field(default=None, max_length=255)


def _id_to_str(value: Any) -> Any:
    # Segment's libraries accept numeric ids; they are strings on the wire here.
    if isinstance(value, bool):
        raise ValueError("an id must be a string or a number")
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value


class EventIn(BaseModel):
    """One event as a client sends it."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    type: str = Field(description="track, identify, page, screen, alias or group.")
    messageId: str | None = Field(default=None, min_length=1, max_length=255)
    anonymousId: str | None = _ID
    userId: str | None = _ID
    previousId: str | None = _ID
    groupId: str | None = _ID
    event: str | None = Field(default=None, max_length=255, description="Track event name.")
    name: str | None = Field(default=None, max_length=255, description="Page or screen name.")
    category: str | None = Field(default=None, max_length=255)
    timestamp: datetime | None = Field(default=None, description="When it happened (client clock).")
    originalTimestamp: datetime | None = None
    sentAt: datetime | None = Field(default=None, description="When the client sent it.")
    properties: dict[str, Any] = Field(default_factory=dict)
    traits: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    integrations: dict[str, Any] = Field(default_factory=dict)

    _coerce_ids = field_validator("anonymousId", "userId", "previousId", "groupId", mode="before")(_id_to_str)

    @field_validator("timestamp", "originalTimestamp", "sentAt", mode="after")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            from datetime import UTC

            return value.replace(tzinfo=UTC)
        return value


class BatchIn(BaseModel):
    """``POST /v1/batch``: up to 500 KB of events, each at most 32 KB."""

    model_config = ConfigDict(extra="ignore")

    batch: list[Any] = Field(description="The events; each is validated on its own.")
    sentAt: datetime | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    writeKey: str | None = None


class ItemError(BaseModel):
    index: int
    messageId: str | None = None
    code: str
    message: str


class IngestResult(BaseModel):
    """What one ingestion request did; ``received == accepted + duplicates + quarantined``."""

    success: bool
    received: int
    accepted: int
    duplicates: int
    conflicts: int = 0
    quarantined: int
    errors: list[ItemError] = Field(default_factory=list)
    status: Literal["ok", "partial", "rejected"] = "ok"
