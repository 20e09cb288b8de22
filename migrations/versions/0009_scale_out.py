"""Several daemons on one catalog: a registry of daemons, and download jobs completed once.

* ``daemons``: one row per daemon process (``host:pid:start-time``) with its heartbeat, start
  time and version; ``eoharvest daemon status`` lists them, a stale heartbeat shows a crash.
* ``download_jobs``: one live job per file (a partial unique index: a file has at most one job
  that is not ``available`` or ``failed``), ``completed_at``/``completed_by``, an index of the
  queued jobs (claims), one for the lease reaper (state, lease_until) and one per lease owner.
* ``download_attempts``: at most one attempt of a job ends ``available`` (a partial unique
  index): a job is completed exactly once, whatever the workers believe.

Revision ID: 0009_scale_out
Revises: 0008_archive_members
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_scale_out"
down_revision = "0008_archive_members"
branch_labels = None
depends_on = None

_LIVE = "state NOT IN ('available', 'failed')"
_DONE = "outcome = 'available'"


def upgrade() -> None:
    op.create_table(
        "daemons",
        sa.Column("owner", sa.String(255), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("heartbeat_at", sa.DateTime, nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("heartbeat_seconds", sa.Float, nullable=False),
        sa.Column("stopped_at", sa.DateTime),
    )
    with op.batch_alter_table("download_jobs") as batch:
        batch.add_column(sa.Column("completed_at", sa.DateTime, nullable=True))
        batch.add_column(sa.Column("completed_by", sa.String(255), nullable=True))
    # Jobs were never used before this revision; should a catalog still hold two live jobs of
    # one file, the newer ones end as failed so that the constraint can be created.
    op.execute(sa.text(
        f"UPDATE download_jobs SET state = 'failed', lease_owner = NULL, lease_until = NULL "
        f"WHERE {_LIVE} AND id NOT IN (SELECT min(id) FROM download_jobs WHERE {_LIVE} GROUP BY file_id)"
    ))
    op.create_index("uq_download_jobs_live_file", "download_jobs", ["file_id"], unique=True,
                    sqlite_where=sa.text(_LIVE), postgresql_where=sa.text(_LIVE))
    # Claims read the queued jobs oldest first: this index holds only those, so a claim never
    # walks past the (many) finished jobs.
    op.create_index("ix_download_jobs_queued", "download_jobs", ["id"],
                    sqlite_where=sa.text("state = 'queued'"), postgresql_where=sa.text("state = 'queued'"))
    op.create_index("ix_download_jobs_lease", "download_jobs", ["state", "lease_until"])
    op.create_index("ix_download_jobs_owner", "download_jobs", ["lease_owner"])
    op.create_index("uq_download_attempts_completed", "download_attempts", ["job_id"], unique=True,
                    sqlite_where=sa.text(_DONE), postgresql_where=sa.text(_DONE))


def downgrade() -> None:
    op.drop_index("uq_download_attempts_completed", table_name="download_attempts")
    op.drop_index("ix_download_jobs_owner", table_name="download_jobs")
    op.drop_index("ix_download_jobs_lease", table_name="download_jobs")
    op.drop_index("ix_download_jobs_queued", table_name="download_jobs")
    op.drop_index("uq_download_jobs_live_file", table_name="download_jobs")
    with op.batch_alter_table("download_jobs") as batch:
        batch.drop_column("completed_by")
        batch.drop_column("completed_at")
    op.drop_table("daemons")
