"""HTTP edge of the catalogue (filled in by the catalogue work)."""

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["catalogue"])
