"""job_runs.trigger: what started each run (schedule, catch-up, manual, watch)

Manual runs (``digest send``, ``feeds build``, ``bounces process``) are recorded too, so
``status`` can read the truth from ``job_runs`` alone whatever started the work. Also:
``seen_at`` (the run's heartbeat, by the store's clock: a silent run is abandoned),
``reason`` (why a run was skipped), ``produced`` (files written, messages sent) and the
indexes that keep ``/metrics`` and ``status`` to index scans.

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
        batch_op.add_column(sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reason", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("produced", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index(
            "ix_job_runs_job_outcome_finished", ["job", "outcome", "finished_at"], unique=False
        )
        batch_op.create_index(
            "ix_job_runs_schedule_started", ["schedule", "started_at"], unique=False
        )
        batch_op.create_index("ix_job_runs_outcome", ["outcome"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("job_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_job_runs_outcome")
        batch_op.drop_index("ix_job_runs_schedule_started")
        batch_op.drop_index("ix_job_runs_job_outcome_finished")
        batch_op.drop_column("produced")
        batch_op.drop_column("reason")
        batch_op.drop_column("seen_at")
        batch_op.drop_column("trigger")
