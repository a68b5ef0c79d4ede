"""Log output for workers: plain text for people, one JSON object per line for collectors."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

#: The structured fields a worker attaches to each job's log records.
JOB_FIELDS = ("job_id", "queue", "task", "attempt")


class JSONFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the job fields present."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in JOB_FIELDS:
            if hasattr(record, name):
                data[name] = getattr(record, name)
        if record.exc_info:
            data["error"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def configure(level: str = "INFO", fmt: str = "text") -> None:
    """Send kanal's logs to stderr as ``text`` or ``json`` at ``level`` (for ``kanal worker``)."""
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JSONFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s"))
    logger = logging.getLogger("kanal")
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False
