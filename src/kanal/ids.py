"""Sortable unique job ids (ULID layout: 48-bit milliseconds + 80 random bits, base32)."""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
#: Every 10-bit value as its two characters: an id is 13 lookups.
_PAIRS = [a + b for a in _ALPHABET for b in _ALPHABET]
_SHIFTS = range(120, -1, -10)
_lock = threading.Lock()
_last = 0


def new_id() -> str:
    """A 26-character id that sorts by creation time and is strictly increasing per process.

    The client clock only orders ids; it never decides when a job runs.
    """
    global _last
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    with _lock:
        if value <= _last:
            value = _last + 1
        _last = value
    return "".join([_PAIRS[value >> shift & 1023] for shift in _SHIFTS])
