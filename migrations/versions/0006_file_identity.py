"""Files remember which inode, size and modification time they had when they were verified.

``eoharvest serve`` serves a file as verified only while ``size``, ``mtime_ns`` and ``inode``
still match what was recorded when the catalog marked it available (or when ``verify --repair``
re-hashed it). Rows verified before this revision keep NULL here: they are served after a size
check only, until ``verify --repair`` records them.

Revision ID: 0006_file_identity
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_file_identity"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("mtime_ns", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("inode", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_column("inode")
        batch.drop_column("mtime_ns")
