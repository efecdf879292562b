"""A store URL's password never appears in the output of a failing command."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from click.testing import Result

SECRET = "s3cret-Pa55"
UNREACHABLE = f"postgresql+psycopg://etl:{SECRET}@127.0.0.1:1/warehouse"


@pytest.mark.parametrize(
    "arguments",
    [
        ["materialize", "-f", "pipeline.py"],
        ["materialize", "-f", "pipeline.py", "--json"],
        ["materialize", "-f", "pipeline.py", "--dry-run"],
        ["status", "-f", "pipeline.py", "--json"],
        ["backfill", "-f", "pipeline.py"],
        ["backfill", "list"],
        ["backfill", "show", "0123abcd"],
        ["history", "total"],
        ["partitions", "list", "customers"],
    ],
)
def test_the_password_is_not_in_any_output(
    invoke: Callable[..., Result], arguments: list[str]
) -> None:
    result = invoke(*arguments, "--store", UNREACHABLE)
    assert result.exit_code == 1, result.output
    assert "127.0.0.1" in result.output  # the error says where it tried to connect
    assert SECRET not in result.output
    assert SECRET not in repr(result.exception)
