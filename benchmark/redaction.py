"""Credentials out of everything shown or stored: one masking function for URIs and the text around them.

A tracking or sweep-storage URI may carry a password (``http://user:PW@host``,
``postgresql+psycopg2://user:PW@host/db``, ``...?password=PW``). Every line the tool prints, every
exception message shown, every tag stored goes through :func:`mask` first, so the password is
replaced by ``***`` wherever it occurs, however many URIs a text holds.
"""
from __future__ import annotations

import logging
import re
import sys
import traceback
from contextlib import contextmanager
from typing import Callable, Iterator

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


class MaskedStream:
    """A text stream that masks what is written to it (``sys.stdout``/``sys.stderr`` of a command):
    MLflow's and any library's prints, warnings and tracebacks pass through :func:`mask` too."""

    def __init__(self, stream) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(mask(text) if isinstance(text, str) else text)
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):  # flush, fileno, isatty, encoding, buffer ... of the real stream
        return getattr(self._stream, name)


def _masking_factory(make: Callable[..., logging.LogRecord], keep_tracebacks: bool) -> Callable[..., logging.LogRecord]:
    """A log-record factory around ``make``: every record of every logger (MLflow's own, which do not
    propagate to the root, included) has its final message masked, and its traceback masked or dropped."""

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record is the logging module's to report
            return record
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and keep_tracebacks:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
        elif record.exc_info:
            record.exc_info, record.exc_text = None, None
        return record

    return factory


def _masked_excepthook(kind, value, tb) -> None:
    sys.stderr.write(mask("".join(traceback.format_exception(kind, value, tb))))


@contextmanager
def masked_output(keep_tracebacks: bool = True) -> Iterator[None]:
    """For one command: stdout and stderr masked, every log record masked (``keep_tracebacks=False``:
    records lose their traceback too; ``bench`` says such errors in one line), and an uncaught
    exception's traceback (printed after the command returns) masked as well."""
    saved = sys.stdout, sys.stderr
    make = logging.getLogRecordFactory()
    sys.stdout, sys.stderr = MaskedStream(sys.stdout), MaskedStream(sys.stderr)
    sys.excepthook = _masked_excepthook
    logging.setLogRecordFactory(_masking_factory(make, keep_tracebacks))
    try:
        yield
    finally:
        logging.setLogRecordFactory(make)
        if isinstance(sys.stdout, MaskedStream):
            sys.stdout = saved[0]
        if isinstance(sys.stderr, MaskedStream):
            sys.stderr = saved[1]
