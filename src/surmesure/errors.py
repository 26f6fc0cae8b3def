"""The exception tree of surmesure.

Every error the platform raises on purpose is a :class:`SurmesureError` with a
stable, class-level ``code`` (``<capability>.<problem>``) and one of five
categories, which the HTTP edge maps to a status and the CLI to an exit code::

    SurmesureError
    ├── InvalidInput   422 (400 / 413 / 415 where HTTP says so)   exit 2
    ├── NotFound       404                                        exit 3
    ├── Conflict       409                                        exit 4
    ├── Forbidden      401 / 403                                  exit 5
    └── Unavailable    503 / 429 with Retry-After                 exit 6

Expected outcomes (a duplicate event, a quarantined event, a decision
suppressed by consent) are values in results, never exceptions.
``docs/errors.md`` lists every code; ``tests/test_errors_doc.py`` keeps it complete.
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = [
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "SurmesureError",
    "Unavailable",
    "all_error_classes",
]


class SurmesureError(Exception):
    """Base of every deliberate error: a message, a stable code, details."""

    code: ClassVar[str] = "surmesure.error"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class InvalidInput(SurmesureError):
    code = "request.invalid"
    http_status = 422
    exit_code = 2


class NotFound(SurmesureError):
    code = "resource.not_found"
    http_status = 404
    exit_code = 3


class Conflict(SurmesureError):
    code = "resource.conflict"
    http_status = 409
    exit_code = 4


class Forbidden(SurmesureError):
    code = "access.forbidden"
    http_status = 403
    exit_code = 5


class Unavailable(SurmesureError):
    code = "service.unavailable"
    http_status = 503
    exit_code = 6

    def __init__(self, message: str, *, retry_after: int = 1, **details: Any) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


# -- codes shared across capabilities -------------------------------------------------


class MalformedJson(InvalidInput):
    code = "request.malformed_json"
    http_status = 400


class UnsupportedMediaType(InvalidInput):
    code = "request.unsupported_media_type"
    http_status = 415


class ValidationFailed(InvalidInput):
    code = "request.validation_failed"


class Unauthenticated(Forbidden):
    code = "access.unauthenticated"
    http_status = 401


class WrongKey(Forbidden):
    code = "access.wrong_key_kind"


class Overloaded(Unavailable):
    code = "service.overloaded"
    http_status = 503


class RateLimited(Unavailable):
    code = "service.rate_limited"
    http_status = 429


class RouteNotFound(NotFound):
    code = "request.route_not_found"


class MethodNotAllowed(InvalidInput):
    code = "request.method_not_allowed"
    http_status = 405


class ConfigError(SurmesureError):
    code = "config.invalid"
    exit_code = 2


def all_error_classes() -> list[type[SurmesureError]]:
    """Every concrete error class, for the docs-completeness test."""
    seen: list[type[SurmesureError]] = []
    stack: list[type[SurmesureError]] = [SurmesureError]
    while stack:
        cls = stack.pop()
        seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen
