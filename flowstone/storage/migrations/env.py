"""Alembic's entry point: migrate on the connection ``flowstone.storage.migration`` passes in.

That connection is already inside the store's write transaction, which holds the schema lock,
so Alembic must neither connect nor begin or commit a transaction of its own: given a connection
in a transaction, ``begin_transaction`` leaves it to the caller.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo

from flowstone.storage.migration import VERSION_TABLE


def _run_migrations() -> None:
    attributes = context.config.attributes
    applied: list[str] = attributes["applied"]

    def record(
        ctx: MigrationContext,
        step: MigrationInfo,
        heads: Collection[Any],
        run_args: Mapping[str, Any],
    ) -> None:
        # Called after each revision: the caller writes one ``schema_changes`` row per entry.
        applied.extend(step.up_revision_ids)

    context.configure(
        connection=attributes["connection"],
        version_table=VERSION_TABLE,
        on_version_apply=record,
    )
    with context.begin_transaction():
        context.run_migrations()


_run_migrations()
