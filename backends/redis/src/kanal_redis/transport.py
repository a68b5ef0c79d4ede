"""Run a flow's calls on redis-py: the blocking client or the asyncio one.

This is the only place where sync and async differ; each call is one command, but for a
:class:`~kanal_redis.calls.Pipe`: two commands in one pipeline (on Redis Cluster, one after
the other). Network failures become :class:`~kanal.errors.BackendUnavailable` naming the
server (password redacted); any other reply, error replies included, goes back to the flow.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio
import redis.asyncio.cluster
import redis.cluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from kanal.errors import BackendUnavailable
from kanal_redis.calls import Call, Pipe

_NETWORK_ERRORS = (RedisConnectionError, RedisTimeoutError, InvalidResponse, OSError)


def unavailable(exc: Exception, shown: str) -> BackendUnavailable:
    """The error for a server that cannot be reached or does not speak Redis."""
    if isinstance(exc, InvalidResponse) or "protocol error" in str(exc).lower():
        return BackendUnavailable(f"the server at {shown} did not answer as Redis does: {exc}")
    return BackendUnavailable(f"cannot reach Redis at {shown}: {exc}")


class RedisSyncTransport:
    """Runs calls on a blocking redis-py client."""

    def __init__(self, client: redis.Redis | redis.cluster.RedisCluster, shown: str) -> None:
        self._client = client
        self._shown = shown

    def run(self, call: Call) -> Any:
        try:
            if isinstance(call, Pipe):
                return self._pipe(call)
            return self._client.execute_command(*call.command())  # type: ignore[no-untyped-call]
        except _NETWORK_ERRORS as exc:
            raise unavailable(exc, self._shown) from exc

    def _pipe(self, call: Pipe) -> list[Any]:
        if isinstance(self._client, redis.cluster.RedisCluster):
            blocked = self.run(call.block)
            try:
                return [blocked, self.run(call.then)]
            except ResponseError as exc:
                return [blocked, exc]
        pipe = self._client.pipeline(transaction=False)
        pipe.execute_command(*call.block.command())  # type: ignore[no-untyped-call]
        pipe.execute_command(*call.then.command())  # type: ignore[no-untyped-call]
        return pipe.execute(raise_on_error=False)

    def close(self) -> None:
        self._client.close()


class RedisAsyncTransport:
    """Runs calls on an asyncio redis-py client."""

    def __init__(self, client: redis.asyncio.Redis | redis.asyncio.cluster.RedisCluster, shown: str) -> None:
        self._client = client
        self._shown = shown
        # redis-py's asyncio Cluster client looks up an FCALL's keys (COMMAND GETKEYS) before
        # its retry loop, on a pooled connection it does not check: a dropped one fails the
        # call before the script is sent. One more try replaces it (the only hand-made retry;
        # every other one is redis-py's, configured in RedisConfig).
        self._again = isinstance(client, redis.asyncio.cluster.RedisCluster)

    async def run(self, call: Call) -> Any:
        try:
            if isinstance(call, Pipe):
                return await self._pipe(call)
            try:
                return await self._client.execute_command(*call.command())
            except RedisConnectionError:
                if not self._again:
                    raise
            return await self._client.execute_command(*call.command())
        except _NETWORK_ERRORS as exc:
            raise unavailable(exc, self._shown) from exc

    async def _pipe(self, call: Pipe) -> list[Any]:
        if isinstance(self._client, redis.asyncio.cluster.RedisCluster):
            blocked = await self.run(call.block)
            try:
                return [blocked, await self.run(call.then)]
            except ResponseError as exc:
                return [blocked, exc]
        pipe = self._client.pipeline(transaction=False)
        pipe.execute_command(*call.block.command())
        pipe.execute_command(*call.then.command())
        return await pipe.execute(raise_on_error=False)

    async def close(self) -> None:
        await self._client.aclose()
