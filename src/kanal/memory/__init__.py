"""The in-process backend (``memory://``): the reference implementation and the unit-test double."""

from kanal.memory.backend import MemoryBackend
from kanal.memory.store import MemoryStore

__all__ = ["MemoryBackend", "MemoryStore"]
