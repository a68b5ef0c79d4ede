"""Backend URLs: the scheme picks the backend, and passwords never leave this module."""

from __future__ import annotations

from kanal.errors import InvalidArgument

REDACTED = "***"


def scheme_of(url: str) -> str:
    """The URL's scheme, lower-cased (``postgresql+psycopg`` stays whole)."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidArgument(f"not a backend URL: {redact(url)!r} (expected scheme://...)")
    return url.split("://", 1)[0].lower()


def redact(url: object) -> str:
    """``url`` with any password replaced by ``***``; safe for messages, reprs and logs.

    Works on the raw text rather than a URL parser, so a password holding ``#``, ``?``, ``/``
    or ``@`` is still hidden, and so is one in a URL whose scheme was forgotten.
    """
    text = str(url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    if rest.startswith("/") or "@" not in rest:
        return text
    userinfo, host = rest.rsplit("@", 1)
    if ":" not in userinfo:
        return text
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}:{REDACTED}@{host}"
