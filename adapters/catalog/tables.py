"""SQLAlchemy Core tables of the catalog, as the repository sees them.

The schema itself is created only by the Alembic migrations in ``eoharvest.migrations``; these
objects describe it for queries and must match the latest revision (a contract test checks it).
"""

from __future__ import annotations

from geoalchemy2 import Geometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from eoharvest.domain.download_states import FILE_STATES, JOB_STATES

SRID = 4326

# Download states live in eoharvest.domain.download_states.
__all__ = ["FILE_STATES", "JOB_STATES", "SRID", "metadata", "scenes", "files", "searches",
           "download_jobs", "download_attempts", "daemons", "scenes_rtree", "archive_members"]  # fmt: skip

metadata = MetaData()

scenes = Table(
    "scenes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("provider", String(64), nullable=False),
    Column("scene_id", String(255), nullable=False),
    Column("product_key", String(255), nullable=False),
    Column("scene_key", String(255)),
    Column("platform", String(64), nullable=False),
    Column("acq_start", DateTime),
    Column("acq_end", DateTime),
    Column("cloud_cover", Float),
    Column("size", BigInteger),
    Column("online", Boolean, nullable=False),
    Column("links", Text, nullable=False),
    Column("checksums", Text, nullable=False),
    Column("raw", Text, nullable=False),
    Column("footprint", Geometry("MULTIPOLYGON", srid=SRID, spatial_index=False)),
    Column("geometry_valid", Boolean, nullable=False),
    Column("first_seen", DateTime, nullable=False),
    Column("last_seen", DateTime, nullable=False),
)

files = Table(
    "files",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("scene_pk", Integer, ForeignKey("scenes.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("href", Text),
    Column("size", BigInteger),
    Column("checksum_algorithm", String(32)),
    Column("checksum_value", String(128)),
    Column("checksum_source", String(64)),
    Column("local_path", Text),
    Column("state", String(16), nullable=False),
    Column("sha256", String(64)),
    Column("verified_at", DateTime),
    Column("updated_at", DateTime, nullable=False),
    # what the file looked like on disk when it was verified (0006): `serve` checks it
    Column("mtime_ns", BigInteger),
    Column("inode", BigInteger),
    # which asset of its product the file is (0007): a STAC asset key, a band, "product"
    Column("asset", String(255)),
)

# one row per file an archive's extraction put in the product folder (0008): `serve` and
# `verify` reach extracted members only through these rows
archive_members = Table(
    "archive_members",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("file_id", Integer, ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
    Column("path", Text, nullable=False),
    Column("local_path", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("mtime_ns", BigInteger),
    Column("inode", BigInteger),
    Column("verified_at", DateTime, nullable=False),
    UniqueConstraint("file_id", "path", name="uq_archive_members_file_path"),
)

searches = Table(
    "searches",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("query", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("last_run_at", DateTime),
)

download_jobs = Table(
    "download_jobs",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("file_id", Integer, ForeignKey("files.id", ondelete="CASCADE"), nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("lease_owner", String(128)),
    Column("lease_until", DateTime),
    Column("next_attempt_at", DateTime),
    Column("error_class", String(64)),
    Column("error_message", Text),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    # 0009: who completed the job and when (a job completes once: see download_attempts)
    Column("completed_at", DateTime),
    Column("completed_by", String(255)),
)

download_attempts = Table(
    "download_attempts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("job_id", Integer, ForeignKey("download_jobs.id", ondelete="CASCADE"), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime),
    Column("outcome", String(16)),
    Column("error_class", String(64)),
    Column("error_message", Text),
    Column("bytes_received", BigInteger),
)

# The daemons serving the catalog (0009): registered at start, heartbeating, marked stopped.
daemons = Table(
    "daemons",
    metadata,
    Column("owner", String(255), primary_key=True),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("heartbeat_at", DateTime, nullable=False),
    Column("version", String(64), nullable=False),
    Column("heartbeat_seconds", Float, nullable=False),
    Column("stopped_at", DateTime),
)

# SpatiaLite's R*Tree of scenes.footprint (kept in sync by triggers keyed on scenes.id); queried
# directly because neither SQLite nor GeoAlchemy2 uses it on their own. Never created from here.
_rtree_metadata = MetaData()
scenes_rtree = Table(
    "idx_scenes_footprint",
    _rtree_metadata,
    Column("pkid", Integer, primary_key=True),
    Column("xmin", Float),
    Column("xmax", Float),
    Column("ymin", Float),
    Column("ymax", Float),
)
