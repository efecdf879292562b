"""Claims: which process computes an (asset, partition) now, so no other one computes it too."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from flowstone.storage.schema import UtcDateTime

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    """Create ``claims`` and its index on ``run_id``."""
    op.create_table(
        "claims",
        sa.Column("asset_key", sa.String(), nullable=False),
        sa.Column("partition_key", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("holder", sa.String(), nullable=False),
        sa.Column("claimed_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("asset_key", "partition_key", name="pk_claims"),
    )
    op.create_index("ix_claims_run_id", "claims", ["run_id"])
