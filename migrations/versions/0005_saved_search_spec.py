"""Saved searches say what their watermark measures: acquisition or publication time.

The definition itself (endpoint, product type, collections, search options, ...) lives in the
JSON of ``searches.query`` and needs no schema change; ``searches.enabled`` already exists.

Revision ID: 0005
Revises: 0004
Create Date: 2025-04-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL for watermarks written before: they were acquisition times (eoharvest.domain.watch).
    with op.batch_alter_table("search_state") as batch:
        batch.add_column(sa.Column("watermark_kind", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("search_state") as batch:
        batch.drop_column("watermark_kind")
