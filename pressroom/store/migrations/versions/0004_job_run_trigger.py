"""job_runs.trigger: what started each run (schedule, catch-up, manual, watch)

Manual runs (``digest send``, ``feeds build``, ``bounces process``) are recorded too, so
``status`` can read the truth from ``job_runs`` alone whatever started the work.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("trigger", sa.String(length=16), server_default="schedule", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_column("trigger")
