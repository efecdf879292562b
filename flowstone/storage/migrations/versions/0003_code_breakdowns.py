"""Code breakdowns: what each code version of an asset was made of, once per version."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    """Create ``code_breakdowns``, keyed by asset and code version."""
    op.create_table(
        "code_breakdowns",
        sa.Column("asset_key", sa.String(), nullable=False),
        sa.Column("code_version", sa.String(), nullable=False),
        sa.Column("entries", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("asset_key", "code_version", name="pk_code_breakdowns"),
    )
