"""Backend URLs: the scheme picks the backend, and passwords never leave this module."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from kanal.errors import InvalidArgument

REDACTED = "***"


def scheme_of(url: str) -> str:
    """The URL's scheme, lower-cased (``postgresql+psycopg`` stays whole)."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidArgument(f"not a backend URL: {redact(url)!r} (expected scheme://...)")
    return url.split("://", 1)[0].lower()


def redact(url: object) -> str:
    """``url`` with any password replaced by ``***``; safe for messages, reprs and logs."""
    text = str(url)
    try:
        parts = urlsplit(text)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return text
    netloc = parts.netloc.rsplit("@", 1)
    userinfo = netloc[0].split(":", 1)[0] + ":" + REDACTED
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{netloc[1]}"))
