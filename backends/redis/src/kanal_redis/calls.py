"""The calls a Redis flow yields: plain data that a transport turns into one command (or two,
sent at once, for :class:`Pipe`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from kanal_redis.scripts import Script


@dataclass(frozen=True, slots=True)
class Eval:
    """Run an operation: as a library function (``FCALL``), by SHA (``EVALSHA``) or with its
    body (``EVAL``)."""

    script: Script
    keys: tuple[str, ...]
    args: tuple[Any, ...]
    how: Literal["FCALL", "EVALSHA", "EVAL"] = "FCALL"

    def command(self) -> tuple[Any, ...]:
        if self.how == "FCALL":
            name = self.script.function
        else:
            name = self.script.sha if self.how == "EVALSHA" else self.script.body
        return (self.how, name, len(self.keys), *self.keys, *self.args)


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


@dataclass(frozen=True, slots=True)
class Pipe:
    """A ``BLPOP`` and the script to run when it returns, sent together: one round trip.

    The reply is the two replies; a failed script's error comes back in place of its reply.
    """

    block: Block
    then: Eval


Call = Eval | Command | Block | Pipe
