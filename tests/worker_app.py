"""The app that ``kanal worker`` processes run in the process tests (tests/test_worker_processes.py).

Configured from the environment: $KANAL_URL, $KANAL_TEST_QUEUE, $KANAL_TEST_LOG (a file each
run appends a line to) and $KANAL_TEST_CRON (a cron expression for the periodic task).
"""

from __future__ import annotations

import asyncio
import os

import kanal

app = kanal.App(queue=os.environ["KANAL_TEST_QUEUE"])


def note(line: str) -> None:
    """Append one line to the test's log file (appends of a short line do not interleave)."""
    with open(os.environ["KANAL_TEST_LOG"], "a") as log:
        log.write(line + "\n")


@app.task(name="hold", lease_timeout=1.0)
async def hold(seconds: float) -> str:
    """Take ``seconds`` on the first attempt (none on later ones), noting each start."""
    context = kanal.job_context()
    note(f"start {context.job.id} {context.attempt} {os.getpid()}")
    await asyncio.sleep(seconds if context.attempt == 1 else 0)
    return f"held {seconds}"


if os.environ.get("KANAL_TEST_CRON"):

    @app.periodic(cron=os.environ["KANAL_TEST_CRON"], name="tick")
    def tick() -> None:
        """Note the tick this run is for."""
        note(f"tick {kanal.job_context().job.id} {os.getpid()}")
