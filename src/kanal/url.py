"""Backend URLs: the scheme picks the backend, and passwords never leave this module."""

from __future__ import annotations

import re

from kanal.errors import InvalidArgument

REDACTED = "***"
#: A query parameter that holds a secret (``password=``, ``ssl_password=``) and its value.
_SECRET_PARAMETER = re.compile(r"([?&][^=&#]*password=)[^&#]*", re.IGNORECASE)


def scheme_of(url: str) -> str:
    """The URL's scheme, lower-cased (``postgresql+psycopg`` stays whole)."""
    if not isinstance(url, str) or "://" not in url:
        raise InvalidArgument(f"not a backend URL: {redact(url)!r} (expected scheme://...)")
    return url.split("://", 1)[0].lower()


def redact(url: object) -> str:
    """``url`` with any password replaced by ``***``; safe for messages, reprs and logs.

    Works on the raw text rather than a URL parser, so a password holding ``#``, ``?``, ``/``
    or ``@`` is still hidden, and so is one in a URL whose scheme was forgotten. Query
    parameters named ``…password`` (``?password=``, ``ssl_password=``) are hidden too.
    """
    text = str(url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    if not rest.startswith("/") and "@" in rest:
        userinfo, host = rest.rsplit("@", 1)
        if ":" in userinfo:
            text = f"{scheme}{sep}{userinfo.split(':', 1)[0]}:{REDACTED}@{host}"
    return _SECRET_PARAMETER.sub(rf"\g<1>{REDACTED}", text)
