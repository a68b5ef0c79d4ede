"""The ``kanal`` command line: ``kanal --help`` lists the commands, ``kanal COMMAND --help``
explains one. Each module holds a few commands; they are registered on :data:`main` below."""

from __future__ import annotations

import click

import kanal
from kanal.cli import dead, demo, jobs, queues, schema, worker


@click.group(name="kanal", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(kanal.__version__, prog_name="kanal")
def main() -> None:
    """kanal: one job-queue protocol, interchangeable backends.

    Every command takes --url (or $KANAL_URL; default: sqlite:///kanal.db) and --json.

    \b
    Examples:
      kanal enqueue email '{"to": "a@example.com"}'
      kanal stats --url redis://localhost:6379/0
      kanal dead redrive email --all
    """


# The commands, one line each. Import modules, not commands, so that kanal.cli.dead stays a module.
main.add_command(dead.dead)
main.add_command(demo.demo)
main.add_command(jobs.cancel)
main.add_command(jobs.enqueue)
main.add_command(jobs.inspect_job)
main.add_command(jobs.list_jobs)
main.add_command(queues.limits)
main.add_command(queues.pause)
main.add_command(queues.purge)
main.add_command(queues.resume)
main.add_command(queues.stats)
main.add_command(schema.schema)
main.add_command(worker.worker)
