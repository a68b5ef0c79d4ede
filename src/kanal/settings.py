"""Options that apply to a whole connection, whatever the backend."""

from __future__ import annotations

from dataclasses import dataclass, field

from kanal import validation
from kanal.errors import ConfigError, InvalidArgument
from kanal.serializers import JSONSerializer, Serializer

DEFAULT_LEASE_TIMEOUT = 30.0
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_RESULT_TTL = 3600.0
DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """Connection-wide options, given as keyword arguments to ``kanal.connect``.

    ``result_ttl`` is how long a finished job (its result, or its cancellation) is kept;
    it is also the window in which enqueueing the same job id again is a no-op.
    """

    serializer: Serializer = field(default_factory=JSONSerializer)
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
    result_ttl: float = DEFAULT_RESULT_TTL

    def __post_init__(self) -> None:
        try:
            validation.integer("max_payload_bytes", self.max_payload_bytes, low=1, high=2**31)
            validation.seconds("result_ttl", self.result_ttl)
        except InvalidArgument as exc:
            raise ConfigError(str(exc)) from None
        if not callable(getattr(self.serializer, "dumps", None)) or not callable(
            getattr(self.serializer, "loads", None)
        ):
            raise ConfigError("serializer must have dumps(value) -> bytes and loads(bytes)")
