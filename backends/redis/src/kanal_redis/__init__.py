"""kanal's Redis backend: ``kanal.connect("redis://localhost:6379/0")``.

Every state change is one Lua script on the keys of one queue, all under the hash tag
``{prefix:queue}``, so it is atomic and runs unchanged on Redis Cluster.
"""

from kanal_redis.backend import RedisBackend
from kanal_redis.config import RedisConfig
from kanal_redis.keys import Layout

__all__ = ["Layout", "RedisBackend", "RedisConfig"]
