"""digests.article_ids: the articles a digest run selected, frozen when the run is created

A run that is resumed (after a crash, or by several senders) must send the same content it
started with, even when view counts or edits have since changed which articles are
important. The ids are stored comma-separated, best first.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("article_ids", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("digests", schema=None) as batch_op:
        batch_op.drop_column("article_ids")
