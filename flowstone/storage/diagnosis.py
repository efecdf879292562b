"""What the store tells a user when the database fails: the cause, masked, and how to fix it.

Pure functions over an exception: they never touch the database. A password must never reach
their output, in plain or URL-quoted form.
"""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy.exc import (
    IntegrityError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
    StatementError,
)


def describe_error(exc: BaseException, password: str | None) -> str:
    """The error's own message, first line only, with the password masked."""
    cause = exc.orig if isinstance(exc, StatementError) and exc.orig is not None else exc
    message = (str(cause).strip().splitlines() or [type(cause).__name__])[0].rstrip(".")
    if password:
        for secret in {password, quote(password, safe="")}:
            message = message.replace(secret, "***")
    return message


def suggest_fix(exc: BaseException) -> str:
    """One sentence on how to get past ``exc``, judged from its kind and message."""
    orig = exc.orig if isinstance(exc, StatementError) else None
    if isinstance(exc, IntegrityError):
        return (
            "Each id must be new and each materialization must name a run recorded with "
            "add_run(); fix the records and try again."
        )
    if "no such table" in str(exc) or ("relation" in str(exc) and "does not exist" in str(exc)):
        return "Open the store once with SqlMetadataStore(url, create=True) to create its tables."
    if isinstance(exc, OperationalError | InterfaceError | NoSuchModuleError):
        return "Check that the database exists and is reachable and the URL and login are right."
    if isinstance(orig, ValueError | TypeError):
        return "Fix the value named above (JSON-serialisable metadata, timezone-aware datetimes)."
    return "See the chained exception for details; the store may need to be recreated."
