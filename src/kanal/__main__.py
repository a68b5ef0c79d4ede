"""``python -m kanal``: the ``kanal`` command line."""

from kanal.cli import main

main(prog_name="kanal")
