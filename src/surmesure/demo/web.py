"""The demo storefront's routes (filled in by the demo work)."""

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(tags=["demo"], include_in_schema=False)
