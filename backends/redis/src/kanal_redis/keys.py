"""Where a queue lives in Redis: every key of a queue shares the hash tag ``{prefix:queue}``.

Keys are built here from validated names only, so a script always touches one slot and
runs unchanged on Redis Cluster. The fixed keys of a queue go to every script as KEYS,
in :data:`LAYOUT` order; per-job and per-key keys are built in Lua from ``KEYS[1]``.
"""

from __future__ import annotations

import re
from functools import lru_cache

from kanal.errors import ConfigError

#: (Lua name, key suffix) of every fixed key of a queue, in KEYS order.
LAYOUT: tuple[tuple[str, str], ...] = (
    ("BASE", ""),
    ("READY", ":ready"),
    ("DUE", ":due"),
    ("PARKED", ":parked"),
    ("META", ":meta"),
    ("BUCKETS", ":buckets"),
    ("KEYCOUNT", ":keycount"),
    ("KEYENTRY", ":keyentry"),
    ("SEQ", ":seq"),
    ("WAKE", ":wake"),
    ("STATES", ":states"),
)
_INDEX = {name: i for i, (name, _) in enumerate(LAYOUT)}

#: A key prefix: what a queue name may hold, at most 64 characters (no ``{``, ``}`` or ``:``).
PREFIX = re.compile(r"[A-Za-z0-9_.-]{1,64}")
DEFAULT_PREFIX = "kanal"


def check_prefix(prefix: object) -> str:
    """``prefix`` if it keeps the key layout intact, else :class:`ConfigError`."""
    if not isinstance(prefix, str) or not PREFIX.fullmatch(prefix):
        raise ConfigError(
            f"invalid Redis key prefix {prefix!r}: use 1-64 of letters, digits, _ . - "
            "(no braces or colons, which would break the {prefix:queue} hash tag)"
        )
    return prefix


class Layout:
    """Key names for one prefix. Queue names and ids arrive validated by the core."""

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        self.prefix = check_prefix(prefix)
        #: A set of every queue name ever written to (for ``stats()`` and ``queues()``).
        self.registry = f"{{{self.prefix}}}:queues"

    def keys(self, queue: str) -> tuple[str, ...]:
        """The queue's fixed keys, in :data:`LAYOUT` order (a script's KEYS)."""
        return _queue_keys(self.prefix, queue)

    def key(self, queue: str, name: str) -> str:
        """One fixed key of the queue, by its Lua name (e.g. ``"META"``)."""
        return self.keys(queue)[_INDEX[name]]

    def waiters(self, queue: str, job_id: str) -> str:
        """The list that clients waiting on a change of the job block on."""
        return f"{self.keys(queue)[0]}:w:{job_id}"


@lru_cache(maxsize=4096)
def _queue_keys(prefix: str, queue: str) -> tuple[str, ...]:
    base = f"{{{prefix}:{queue}}}"
    return tuple(base + suffix for _, suffix in LAYOUT)
