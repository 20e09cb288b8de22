"""Files remember which asset of their product they are.

A file row gets ``asset``: the provider's name for what the file is (a STAC asset key such as
``red`` or ``nir08``, a CMR band, a Planet asset type, ``product`` for a whole-product archive).
Downloads consult it across providers: band files fetched from Earth Search stop a USGS
``download-request`` for the same bands of the same product, and the other way round. Rows
recorded before this revision are given the asset their scene's stored record names for their
file name (``adapters/catalog/file_assets.py``); the others keep NULL.

Revision ID: 0007_file_assets
Revises: 0006_file_identity
Create Date: 2026-11-29
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0007_file_assets"
down_revision = "0006_file_identity"
branch_labels = None
depends_on = None

#: rows read and updated per batch during the backfill
BATCH = 2000


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("asset", sa.String(255), nullable=True))
    _backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_column("asset")


def _backfill(conn: sa.Connection) -> None:
    # Imported here: the rules are the providers' file naming, which only this step needs.
    from eoharvest.adapters.catalog.file_assets import asset_of_file

    files = sa.table("files", sa.column("id", sa.Integer), sa.column("scene_pk", sa.Integer),
                     sa.column("name", sa.String), sa.column("asset", sa.String))  # fmt: skip
    scenes = sa.table("scenes", sa.column("id", sa.Integer), sa.column("scene_id", sa.String), sa.column("raw", sa.Text))
    update = sa.update(files).where(files.c.id == sa.bindparam("file_id")).values(asset=sa.bindparam("file_asset"))
    last = 0
    while True:
        rows = conn.execute(
            sa.select(files.c.id, files.c.name, scenes.c.scene_id, scenes.c.raw)
            .join(scenes, scenes.c.id == files.c.scene_pk)
            .where(files.c.id > last)
            .order_by(files.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        found = []
        for row in rows:
            try:
                raw = json.loads(row.raw) if row.raw else None
            except ValueError:
                continue
            asset = asset_of_file(row.name, row.scene_id, raw)
            if asset is not None:
                found.append({"file_id": row.id, "file_asset": asset[:255]})
        if found:
            conn.execute(update, found)
