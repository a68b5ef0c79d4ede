"""The calls a Redis flow yields: plain data that a transport turns into one command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kanal_redis.scripts import Script


@dataclass(frozen=True, slots=True)
class Eval:
    """Run a script by SHA (``EVALSHA``), or with its body (``EVAL``) when ``by_sha`` is False."""

    script: Script
    keys: tuple[str, ...]
    args: tuple[Any, ...]
    by_sha: bool = True

    def command(self) -> tuple[Any, ...]:
        if self.by_sha:
            return ("EVALSHA", self.script.sha, len(self.keys), *self.keys, *self.args)
        return ("EVAL", self.script.body, len(self.keys), *self.keys, *self.args)


@dataclass(frozen=True, slots=True)
class Command:
    """Any other single command (``SADD``, ``HGET``, ``SMEMBERS`` …)."""

    args: tuple[Any, ...]

    def command(self) -> tuple[Any, ...]:
        return self.args


@dataclass(frozen=True, slots=True)
class Block:
    """``BLPOP`` on wake-up lists for up to ``timeout`` seconds."""

    keys: tuple[str, ...]
    timeout: float

    def command(self) -> tuple[Any, ...]:
        return ("BLPOP", *self.keys, f"{max(self.timeout, 0.001):.3f}")


Call = Eval | Command | Block
