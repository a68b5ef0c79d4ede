"""The Lua scripts, one file per operation in ``lua/``, each prefixed with the shared library.

Each script is loaded once per server by SHA; a server that lost it (restart, SCRIPT
FLUSH, a new cluster node) gets the body again through EVAL (see ``backend._script``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from kanal_redis.keys import LAYOUT

#: The job hash fields a job reply carries, after the id, in this order.
FIELDS = ("p", "st", "pr", "k", "at", "ma", "lt", "ra", "ea", "fd", "ld", "fa", "le", "r", "tk", "lx")


@dataclass(frozen=True, slots=True)
class Script:
    """One operation's full Lua source and its SHA1."""

    name: str
    body: str
    sha: str


def _prelude() -> str:
    names = ", ".join(name for name, _ in LAYOUT)
    values = ", ".join(f"KEYS[{i}]" for i in range(1, len(LAYOUT) + 1))
    fields = ", ".join(f"'{field}'" for field in FIELDS)
    return f"local {names} = {values}\nlocal FIELDS = {{{fields}}}\n"


def _source(name: str) -> str:
    return (files("kanal_redis") / "lua" / f"{name}.lua").read_text(encoding="utf-8")


@cache
def script(name: str) -> Script:
    """The script for operation ``name`` (``lua/<name>.lua``)."""
    body = "\n".join((f"-- kanal: {name}", _prelude(), _source("_lib"), _source(name)))
    return Script(name, body, hashlib.sha1(body.encode()).hexdigest())
