"""Order polls claimed like download jobs, and passes that count queued files.

* ``orders.poll_owner`` / ``orders.poll_until``: the process asking the provider about the
  order now, and when its lease runs out (a poller that died is replaced after that);
* ``orders.next_poll_at``: the order's due time; nobody polls it before then, so however many
  daemons follow an order, the provider is asked once per due time.

Existing orders get no lease and no due time (they are due at once).

* ``search_state.last_queued``: the scenes a pass handed to the download queue (a daemon on a
  PostgreSQL catalog), no longer counted as downloaded; 0 for the passes before.

Revision ID: 0010_order_poll_lease
Revises: 0009_scale_out
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_order_poll_lease"
down_revision = "0009_scale_out"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("poll_owner", sa.String(255), nullable=True))
        batch.add_column(sa.Column("poll_until", sa.DateTime, nullable=True))
        batch.add_column(sa.Column("next_poll_at", sa.DateTime, nullable=True))
    with op.batch_alter_table("search_state") as batch:
        batch.add_column(sa.Column("last_queued", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("search_state") as batch:
        batch.drop_column("last_queued")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("next_poll_at")
        batch.drop_column("poll_until")
        batch.drop_column("poll_owner")
