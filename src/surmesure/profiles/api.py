"""HTTP edge of profiles (secret key)."""

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["profiles"])
