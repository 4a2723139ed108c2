"""Credentials out of everything shown or stored: one masking function for URIs and the text around them.

A tracking or sweep-storage URI may carry a password (``http://user:PW@host``,
``postgresql+psycopg2://user:PW@host/db``, ``...?password=PW``). Every line the tool prints, every
exception message shown, every tag stored goes through :func:`mask` first, so the password is
replaced by ``***`` wherever it occurs, however many URIs a text holds.
"""
from __future__ import annotations

import re

MASK = "***"

# scheme://user:password@  -- the password runs to the last '@' before the host (a raw '@' in a
# password is a common mistake, so it is masked too); it stops at whitespace, '/' and quotes.
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*:)(?P<pw>[^\s/'\"]*)(?P<at>@)")
# ...?password=PW or &password=PW (libpq-style query parameters), also passwd= and pwd=.
_QUERY = re.compile(r"(?P<head>[?&;](?:password|passwd|pwd)=)(?P<pw>[^&\s'\"#]*)", re.IGNORECASE)


def mask(text: str) -> str:
    """``text`` with the password of every URI in it replaced by ``***`` (user, host and path kept, so
    the message still says which server). Text without credentials comes back unchanged."""
    if not text or ("@" not in text and "=" not in text):
        return text
    text = _USERINFO.sub(lambda m: m["head"] + (MASK if m["pw"] else "") + m["at"], text)
    return _QUERY.sub(lambda m: m["head"] + MASK, text)


def has_secret(uri: str | None) -> bool:
    """Whether ``uri`` carries a password (then it must not appear on a command line, visible in ``ps``)."""
    return bool(uri) and mask(uri) != uri
