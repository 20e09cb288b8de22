"""The files extracted from an archive are recorded one by one, so they can be served as verified.

Each row is one member an extraction put in the product folder: which archive file it came
from, its path relative to the product folder (``/``-separated, as the archive names it), where
it is on disk, its size, the SHA-256 of the bytes written while extracting, and its on-disk
identity (``mtime_ns``, inode) when it was recorded. ``eoharvest serve`` finds members only
through these rows; ``eoharvest verify`` re-hashes them. Rows go with their archive's file row.

Revision ID: 0008_archive_members
Revises: 0007_file_assets
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_archive_members"
down_revision = "0007_file_assets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_members",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("file_id", sa.Integer(), sa.ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("local_path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("mtime_ns", sa.BigInteger(), nullable=True),
        sa.Column("inode", sa.BigInteger(), nullable=True),
        sa.Column("verified_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("file_id", "path", name="uq_archive_members_file_path"),
    )


def downgrade() -> None:
    op.drop_table("archive_members")
