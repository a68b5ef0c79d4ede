"""Griffe extension for the API reference: turn Sphinx roles in docstrings into links.

kanal's docstrings use reST roles (``:class:`~kanal.errors.StaleLease```, ``:meth:`resume```),
which mkdocstrings would print literally. This rewrites each role into an *optional*
autorefs link: a link when the target is rendered in the docs, plain code otherwise.
"""

from __future__ import annotations

import re
from functools import partial
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|meth|func|data|attr|exc|obj|mod):`(?P<tilde>~?)(?P<target>[\w.]+)`")


class SphinxRoles(griffe.Extension):
    """Rewrite the roles of every docstring once the package is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        for obj in _walk(pkg):
            if obj.docstring is not None:
                obj.docstring.value = ROLE.sub(partial(_link, obj), obj.docstring.value)


def _walk(obj: griffe.Object) -> list[griffe.Object]:
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias and isinstance(member, griffe.Object):
            found += _walk(member)
    return found


def _link(obj: griffe.Object, match: re.Match[str]) -> str:
    target = match["target"]
    shown = target.rsplit(".", 1)[-1] if match["tilde"] else target
    identifier = target
    if "." not in target:
        try:
            identifier = obj.resolve(target)
        except (griffe.NameResolutionError, ValueError):
            identifier = target
    return f'<autoref identifier="{identifier}" optional><code>{shown}</code></autoref>'
