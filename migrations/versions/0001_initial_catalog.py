"""Initial catalog: scenes with a spatial footprint, files, saved searches, download jobs.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JOB_STATES = ("queued", "fetching", "verifying", "finalizing", "available", "paused", "failed")
_STATE_LIST = ", ".join(f"'{s}'" for s in JOB_STATES)


def upgrade() -> None:
    # GeoAlchemy2's table events register the geometry column (RecoverGeometryColumn) and its
    # R*Tree (CreateSpatialIndex) on SpatiaLite, and create a GiST index on PostGIS.
    op.create_table(
        "scenes",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("scene_id", sa.String(255), nullable=False),
        sa.Column("product_key", sa.String(255), nullable=False),
        sa.Column("scene_key", sa.String(255)),
        sa.Column("platform", sa.String(64), nullable=False),
        sa.Column("acq_start", sa.DateTime),
        sa.Column("acq_end", sa.DateTime),
        sa.Column("cloud_cover", sa.Float),
        sa.Column("size", sa.BigInteger),
        sa.Column("online", sa.Boolean, nullable=False),
        sa.Column("links", sa.Text, nullable=False),
        sa.Column("checksums", sa.Text, nullable=False),
        sa.Column("raw", sa.Text, nullable=False),
        sa.Column("footprint", Geometry("MULTIPOLYGON", srid=4326, spatial_index=True)),
        sa.Column("geometry_valid", sa.Boolean, nullable=False),
        sa.Column("first_seen", sa.DateTime, nullable=False),
        sa.Column("last_seen", sa.DateTime, nullable=False),
        sa.UniqueConstraint("provider", "scene_id", name="uq_scenes_provider_scene_id"),
    )
    op.create_index("ix_scenes_product_key", "scenes", ["product_key"])
    op.create_index("ix_scenes_scene_key", "scenes", ["scene_key"])
    op.create_index("ix_scenes_acq_start", "scenes", ["acq_start"])
    op.create_index("ix_scenes_platform_acq_start", "scenes", ["platform", "acq_start"])

    op.create_table(
        "files",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "scene_pk", sa.Integer, sa.ForeignKey("scenes.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("href", sa.Text),
        sa.Column("size", sa.BigInteger),
        sa.Column("checksum_algorithm", sa.String(32)),
        sa.Column("checksum_value", sa.String(128)),
        sa.Column("checksum_source", sa.String(64)),
        sa.Column("local_path", sa.Text),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("sha256", sa.String(64)),
        sa.Column("verified_at", sa.DateTime),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("scene_pk", "name", name="uq_files_scene_name"),
        sa.CheckConstraint(f"state IN ('none', {_STATE_LIST})", name="ck_files_state"),
    )
    op.create_index("ix_files_state", "files", ["state"])

    op.create_table(
        "searches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("query", sa.Text, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("last_run_at", sa.DateTime),
    )

    op.create_table(
        "download_jobs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "file_id", sa.Integer, sa.ForeignKey("files.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("lease_owner", sa.String(128)),
        sa.Column("lease_until", sa.DateTime),
        sa.Column("next_attempt_at", sa.DateTime),
        sa.Column("error_class", sa.String(64)),
        sa.Column("error_message", sa.Text),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        sa.CheckConstraint(f"state IN ({_STATE_LIST})", name="ck_download_jobs_state"),
    )
    op.create_index("ix_download_jobs_state_next", "download_jobs", ["state", "next_attempt_at"])
    op.create_index("ix_download_jobs_file_id", "download_jobs", ["file_id"])

    op.create_table(
        "download_attempts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "job_id",
            sa.Integer,
            sa.ForeignKey("download_jobs.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("outcome", sa.String(16)),
        sa.Column("error_class", sa.String(64)),
        sa.Column("error_message", sa.Text),
        sa.Column("bytes_received", sa.BigInteger),
    )
    op.create_index("ix_download_attempts_job_id", "download_attempts", ["job_id"])


def downgrade() -> None:
    op.drop_table("download_attempts")
    op.drop_table("download_jobs")
    op.drop_table("searches")
    op.drop_table("files")
    if op.get_bind().dialect.name == "sqlite":
        # Plain DROP TABLE would leave the geometry registration and the R*Tree orphaned.
        op.execute(sa.select(sa.func.DisableSpatialIndex("scenes", "footprint")))
        op.execute("DROP TABLE IF EXISTS idx_scenes_footprint")
        op.execute(sa.select(sa.func.DiscardGeometryColumn("scenes", "footprint")))
    op.drop_table("scenes")
