"""The Lua code, one file per operation in ``lua/``, sharing the helpers in ``lua/_lib.lua``.

On Redis 7 and later every operation is a function of one library (:data:`LIBRARY`, loaded
with ``FUNCTION LOAD``, called with ``FCALL``), so the helpers are built once per load,
not once per call. The library and its functions are named after a hash of the code: two
kanal versions can share a server. On older servers and on Redis Cluster each operation is
a standalone script (the prelude, the helpers and the operation), called by SHA with an
``EVAL`` fallback. A server that lost either (restart, ``FUNCTION FLUSH``, a new cluster
node) gets it again on the next call (see ``backend._script``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from kanal_redis.keys import LAYOUT

#: The job hash fields a job reply carries, after the id, in this order.
FIELDS = ("p", "st", "pr", "k", "at", "ma", "lt", "ra", "ea", "fd", "ld", "fa", "le", "r")
#: Every operation, as named by its file ``lua/<name>.lua``.
OPERATIONS = (
    "ack",
    "ack_dequeue",
    "cancel",
    "dequeue",
    "enqueue",
    "extend",
    "fail",
    "get",
    "list_jobs",
    "pause",
    "purge",
    "recover",
    "redrive",
    "requeue",
    "reschedule",
    "set_limit",
    "stats",
    "watch",
)


@dataclass(frozen=True, slots=True)
class Script:
    """One operation: its function name in :data:`LIBRARY`, and its standalone script and SHA1."""

    name: str
    function: str
    body: str
    sha: str


@dataclass(frozen=True, slots=True)
class Library:
    """Every operation as one function library (Redis 7+)."""

    name: str
    code: str


def _prelude() -> str:
    """The queue's fixed keys as locals, set by ``bind(KEYS)`` at the start of every call."""
    names = ", ".join(name for name, _ in LAYOUT)
    values = ", ".join(f"keys[{i}]" for i in range(1, len(LAYOUT) + 1))
    fields = ", ".join(f"'{field}'" for field in FIELDS)
    return f"local {names}\nlocal function bind(keys) {names} = {values} end\nlocal FIELDS = {{{fields}}}\n"


def _source(name: str) -> str:
    return (files("kanal_redis") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _operation(name: str) -> str:
    """An operation's body; ``KEYS`` and ``ARGV`` are the call's (globals or parameters)."""
    return f"begin(KEYS)\n{_source(name)}"


def _library() -> tuple[str, str]:
    """The library's name and code (its functions are ``<name>_<operation>``)."""
    common = f"{_prelude()}{_source('_lib')}"
    bodies = {op: _operation(op) for op in OPERATIONS}
    name = "kanal_" + _digest(common + "".join(bodies.values()))[:12]
    functions = "".join(
        f"redis.register_function('{name}_{op}', function(KEYS, ARGV)\n{body}\nend)\n"
        for op, body in bodies.items()
    )
    return name, f"#!lua name={name}\n{common}{functions}"


#: The library of every operation (loaded once per server, called with FCALL).
LIBRARY = Library(*_library())


@cache
def script(name: str) -> Script:
    """Operation ``name`` (``lua/<name>.lua``)."""
    body = "\n".join((f"-- kanal: {name}", _prelude(), _source("_lib"), _operation(name)))
    return Script(name, f"{LIBRARY.name}_{name}", body, _digest(body))
