"""Payload and result encoding. JSON by default; pickle is never used unless plugged in."""

from __future__ import annotations

import json
import math
from typing import Any, Protocol

from kanal.errors import SerializationError


class Serializer(Protocol):
    """Turns payloads and results into bytes and back. Plug in any object with these."""

    def dumps(self, value: Any) -> bytes:
        """Encode ``value``; raise :class:`~kanal.errors.SerializationError` if impossible."""
        ...

    def loads(self, data: bytes) -> Any:
        """Decode what :meth:`dumps` produced; raise ``ValueError`` on malformed data."""
        ...


#: One encoder for every call (``json.dumps`` with options builds a new one each time).
_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


class JSONSerializer:
    """Strict JSON: no NaN or infinity, no silent ``str()`` of unknown types.

    An error names the offending type and where it sits, e.g. ``payload['tags'][2]``.
    """

    def dumps(self, value: Any) -> bytes:
        try:
            return _ENCODER.encode(value).encode()
        except (TypeError, ValueError, RecursionError) as exc:
            raise SerializationError(_explain(value)) from exc

    def loads(self, data: bytes) -> Any:
        return json.loads(data)


def _explain(value: Any) -> str:
    try:
        problem = _find_unencodable(value, "value", set())
    except RecursionError:
        return "value is nested too deeply to encode"
    if problem is None:  # pragma: no cover - json refused something we could not locate
        return "value is not JSON-serializable"
    path, reason = problem
    return f"{path} {reason}; JSON carries dict, list, str, int, finite float, bool and None"


def _find_unencodable(value: Any, path: str, seen: set[int]) -> tuple[str, str] | None:
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else (path, f"is {value!r}, which JSON cannot encode")
    if isinstance(value, list | tuple | dict):
        if id(value) in seen:
            return path, "contains itself (a circular reference)"
        seen.add(id(value))
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str | int | float | bool) and k is not None:
                    return path, f"has a key of type {type(k).__name__}"
                found = _find_unencodable(v, f"{path}[{k!r}]", seen)
                if found:
                    return found
        else:
            for i, v in enumerate(value):
                found = _find_unencodable(v, f"{path}[{i}]", seen)
                if found:
                    return found
        seen.discard(id(value))
        return None
    return path, f"is of type {type(value).__name__}"
