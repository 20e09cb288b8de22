"""Sync daemon state per saved search: watermark, last/next run, failures, last error, pause.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A table of its own rather than columns on `searches`: SQLite cannot drop columns without a
    # table copy, and the definition (searches.query) changes far less often than this state.
    op.create_table(
        "search_state",
        sa.Column(
            "search_id", sa.Integer, sa.ForeignKey("searches.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("watermark", sa.DateTime),
        sa.Column("last_run_at", sa.DateTime),
        sa.Column("next_run_at", sa.DateTime),
        sa.Column("failures", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("paused", sa.Text),
        sa.Column("last_found", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_new", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_downloaded", sa.Integer, nullable=False, server_default="0"),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_files_state_verified_at", "files", ["state", "verified_at"])


def downgrade() -> None:
    op.drop_index("ix_files_state_verified_at", table_name="files")
    op.drop_table("search_state")
