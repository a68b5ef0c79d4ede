"""Redis servers for the tests: the one named by $KANAL_REDIS_URL (CI), else a local one."""
