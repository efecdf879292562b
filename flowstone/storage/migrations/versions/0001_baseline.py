"""Baseline: every table of the store as it was before migrations, and the sequence counter.

A store made before migrations existed holds some of these tables already (which ones depends on
the flowstone that made it): those are kept as they are and only the missing ones are created.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flowstone.storage.schema import UtcDateTime

revision = "0001"
down_revision = None


def upgrade() -> None:
    """Create the missing tables in foreign-key order, then seed the counter unless it exists."""
    present = set(sa.inspect(op.get_bind()).get_table_names())
    for name, create in _TABLES:
        if name not in present:
            create()
    # Both SQLite and PostgreSQL spell an insert that skips an existing row this way.
    op.execute(
        "INSERT INTO counters (name, value) VALUES ('materialization_sequence', 0) "
        "ON CONFLICT DO NOTHING"
    )


def _runs() -> None:
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("selection", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", name="pk_runs"),
    )
    op.create_index("ix_runs_started_at", "runs", ["started_at"])


def _materializations() -> None:
    op.create_table(
        "materializations",
        sa.Column("materialization_id", sa.String(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("asset_key", sa.String(), nullable=False),
        sa.Column("partition_key", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("code_version", sa.String(), nullable=True),
        sa.Column("data_version", sa.String(), nullable=True),
        sa.Column("provenance_version", sa.String(), nullable=True),
        sa.Column("uri", sa.Text(), nullable=True),
        sa.Column("started_at", UtcDateTime(), nullable=True),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("stored", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("materialization_id", name="pk_materializations"),
        sa.UniqueConstraint("sequence", name="uq_materializations_sequence"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name="fk_materializations_run_id_runs"
        ),
    )
    op.create_index(
        "ix_materializations_asset_key_partition_key_sequence",
        "materializations",
        ["asset_key", "partition_key", "sequence"],
    )
    op.create_index("ix_materializations_run_id", "materializations", ["run_id"])


def _lineage() -> None:
    op.create_table(
        "lineage",
        sa.Column("materialization_id", sa.String(), nullable=False),
        sa.Column("upstream_materialization_id", sa.String(), nullable=False),
        sa.Column("upstream_asset_key", sa.String(), nullable=False),
        sa.Column("upstream_partition_key", sa.String(), nullable=False),
        sa.Column("upstream_data_version", sa.String(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "materialization_id", "upstream_materialization_id", name="pk_lineage"
        ),
        sa.ForeignKeyConstraint(
            ["materialization_id"],
            ["materializations.materialization_id"],
            name="fk_lineage_materialization_id_materializations",
        ),
    )
    op.create_index(
        "ix_lineage_upstream_materialization_id", "lineage", ["upstream_materialization_id"]
    )


def _latest() -> None:
    op.create_table(
        "latest",
        sa.Column("asset_key", sa.String(), nullable=False),
        sa.Column("partition_key", sa.String(), nullable=False),
        sa.Column("latest_materialization_id", sa.String(), nullable=False),
        sa.Column("latest_sequence", sa.BigInteger(), nullable=False),
        sa.Column("latest_status", sa.String(), nullable=False),
        sa.Column("last_success_id", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("asset_key", "partition_key", name="pk_latest"),
        sa.ForeignKeyConstraint(
            ["latest_materialization_id"],
            ["materializations.materialization_id"],
            name="fk_latest_latest_materialization_id_materializations",
        ),
        sa.ForeignKeyConstraint(
            ["last_success_id"],
            ["materializations.materialization_id"],
            name="fk_latest_last_success_id_materializations",
        ),
    )


def _counters() -> None:
    op.create_table(
        "counters",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_counters"),
    )


def _dynamic_partitions() -> None:
    op.create_table(
        "dynamic_partitions",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("partition_key", sa.String(), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("added_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", "partition_key", name="pk_dynamic_partitions"),
    )
    op.create_index(
        "ix_dynamic_partitions_name_position", "dynamic_partitions", ["name", "position"]
    )


def _backfills() -> None:
    op.create_table(
        "backfills",
        sa.Column("backfill_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("selection", sa.JSON(), nullable=False),
        sa.Column("partitions", sa.JSON(), nullable=False),
        sa.Column("policy", sa.String(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("backfill_id", name="pk_backfills"),
    )
    op.create_index("ix_backfills_created_at", "backfills", ["created_at"])


def _backfill_items() -> None:
    op.create_table(
        "backfill_items",
        sa.Column("backfill_id", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("asset_key", sa.String(), nullable=False),
        sa.Column("partition_key", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("backfill_id", "position", name="pk_backfill_items"),
        sa.ForeignKeyConstraint(
            ["backfill_id"],
            ["backfills.backfill_id"],
            name="fk_backfill_items_backfill_id_backfills",
        ),
    )
    op.create_index(
        "ix_backfill_items_backfill_id_asset_key_partition_key",
        "backfill_items",
        ["backfill_id", "asset_key", "partition_key"],
    )


def _backfill_runs() -> None:
    op.create_table(
        "backfill_runs",
        sa.Column("backfill_id", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("backfill_id", "run_id", name="pk_backfill_runs"),
        sa.ForeignKeyConstraint(
            ["backfill_id"],
            ["backfills.backfill_id"],
            name="fk_backfill_runs_backfill_id_backfills",
        ),
    )
    op.create_index("ix_backfill_runs_run_id", "backfill_runs", ["run_id"])


def _schema_changes() -> None:
    op.create_table(
        "schema_changes",
        sa.Column("revision", sa.String(), nullable=False),
        sa.Column("applied_at", UtcDateTime(), nullable=False),
        sa.Column("applied_by", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("revision", name="pk_schema_changes"),
    )


_TABLES = (
    ("runs", _runs),
    ("materializations", _materializations),
    ("lineage", _lineage),
    ("latest", _latest),
    ("counters", _counters),
    ("dynamic_partitions", _dynamic_partitions),
    ("backfills", _backfills),
    ("backfill_items", _backfill_items),
    ("backfill_runs", _backfill_runs),
    ("schema_changes", _schema_changes),
)
"""Each table and how to create it, parents before the tables whose foreign keys name them."""
