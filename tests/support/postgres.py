"""How the tests find a PostgreSQL server: ``FLOWSTONE_TEST_POSTGRES_URL``.

Without it the PostgreSQL cases are skipped on a laptop, with the reason, but fail in CI
(``CI=true``): CI must run them.
"""

from __future__ import annotations

import os

import pytest

POSTGRES_URL_ENV = "FLOWSTONE_TEST_POSTGRES_URL"


def postgres_base_url() -> str:
    """The server URL from the environment; skips (or fails in CI) when it is not set."""
    url = os.environ.get(POSTGRES_URL_ENV, "")
    if url:
        return url
    reason = (
        f"PostgreSQL tests need {POSTGRES_URL_ENV}, e.g. "
        "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}. CI must run them: give the job a PostgreSQL service and set it.")
    pytest.skip(reason)
