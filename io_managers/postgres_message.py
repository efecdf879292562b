"""How ``PostgresIOManager`` words its failures: what, where (asset and partition) and the fix.

It owns the messages and the URL handling behind them: a message names the server and database
but never the user or password, and a driver's error is cut to its first line.
"""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from flowstone.errors import IOManagerError
from flowstone.io import IOContext
from io_managers.postgres_widening import WideningRefusal


def parse_url(url: str) -> URL:
    """The URL with the psycopg driver; errors never repeat it, as it may hold a password."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    if parsed is None or parsed.get_backend_name() != "postgresql":
        raise IOManagerError(
            "PostgresIOManager needs a PostgreSQL URL; the url= given is not one (not shown, "
            "it may hold a password). Give one like postgresql+psycopg://user@host/db."
        )
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def build_refusal(ctx: IOContext, exc: WideningRefusal) -> IOManagerError:
    return build_error(ctx, exc.what, f"Nothing was written; {exc.fix[0].lower()}{exc.fix[1:]}.")


def build_error(ctx: IOContext, what: str, fix: str) -> IOManagerError:
    return IOManagerError(
        f"Cannot store or load {describe_where(ctx)}: {what}. {fix}",
        asset_key=ctx.asset_key,
        partition_key=ctx.partition_key,
    )


def describe_where(ctx: IOContext) -> str:
    return f"asset {str(ctx.asset_key)!r}, partition {ctx.partition_key!r}"


def format_location(url: URL) -> str:
    """The server and database, never the user or password."""
    port = f":{url.port}" if url.port else ""
    return f"postgresql://{url.host or 'localhost'}{port}/{url.database or ''}"


def describe_error(url: URL, exc: Exception) -> str:
    """The first line of the driver's message, without the SQL, parameters or password."""
    cause: BaseException = exc.orig if isinstance(exc, DBAPIError) and exc.orig else exc
    text = f"{type(cause).__name__}: {(str(cause).strip().splitlines() or [''])[0]}"
    password = url.password
    return text.replace(str(password), "***") if password else text


def sqlstate(exc: DBAPIError) -> str | None:
    """The SQLSTATE code of a driver error (psycopg 3 and psycopg2 name it differently)."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code if isinstance(code, str) else None


def format_uri(url: URL, schema: str, ctx: IOContext, table_name: str) -> str:
    """Where a value is: server, database, schema, table, asset and partition (no password)."""
    table = f"{quote(schema, safe='')}.{quote(table_name, safe='')}"
    asset, partition = quote(str(ctx.asset_key), safe=""), quote(ctx.partition_key, safe="")
    return f"{format_location(url)}#{table}?asset={asset}&partition={partition}"
