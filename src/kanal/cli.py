"""The ``kanal`` command line (placeholder until the CLI lands)."""

from __future__ import annotations


def main() -> None:
    """Entry point of the ``kanal`` command."""
