"""Templates of placements, rendered in Jinja2's ``ImmutableSandboxedEnvironment``.

A template sees plain data only (``profile``, ``item``, ``context``): dicts, lists,
strings and numbers. The sandbox refuses attributes starting with ``_`` (so no
``__class__``/``__globals__`` walk to code), calls to unsafe callables and changes to
the data; there is no loader (``include``/``import``/``extends`` cannot read files),
and the output is cut at ``MAX_OUTPUT`` characters. A template that breaks a rule is a
value in the result (an error message), never an exception on the decision path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from surmesure.decisions.domain import InvalidPlacement

__all__ = ["MAX_OUTPUT", "Rendered", "Renderer", "check_template"]

MAX_OUTPUT = 20_000
_MAX_RANGE = 1000


class _Sandbox(ImmutableSandboxedEnvironment):
    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr.startswith("_"):
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def is_safe_callable(self, obj: Any) -> bool:
        # only the builtin-type methods the immutable sandbox allows (str.upper, dict.get...)
        return bool(super().is_safe_callable(obj))


def _bounded_range(*args: int) -> range:
    r = range(*args)
    if len(r) > _MAX_RANGE:
        raise SecurityError(f"range longer than {_MAX_RANGE}")
    return r


@dataclass(frozen=True)
class Rendered:
    text: str
    error: str | None = None
    truncated: bool = False


class Renderer:
    """One sandbox, its compiled templates kept by source."""

    def __init__(self) -> None:
        self.env = _Sandbox(autoescape=True, loader=None)
        self.env.globals = {"range": _bounded_range}
        self._compiled: dict[str, Any] = {}

    def render(self, source: str, data: Mapping[str, Any]) -> Rendered:
        try:
            template = self._compiled.get(source)
            if template is None:
                template = self.env.from_string(source)
                if len(self._compiled) < 1000:
                    self._compiled[source] = template
            pieces: list[str] = []
            size = 0
            for piece in template.generate(**data):
                pieces.append(piece)
                size += len(piece)
                if size > MAX_OUTPUT:
                    return Rendered("".join(pieces)[:MAX_OUTPUT], None, True)
            return Rendered("".join(pieces))
        except SecurityError as error:
            return Rendered("", f"refused by the template sandbox: {error}")
        except (TemplateError, TypeError, ValueError, ArithmeticError, LookupError, RecursionError) as error:
            return Rendered("", f"the template failed: {type(error).__name__}: {error}")


def check_template(source: str, where: str) -> None:
    """Refuse a template that does not parse (at definition time, with its path)."""
    try:
        _Sandbox().parse(source)
    except TemplateError as error:
        raise InvalidPlacement(
            f"{where}: the template does not parse: {error}",
            problems=[{"path": where, "message": str(error)}],
        ) from None
