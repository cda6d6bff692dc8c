"""subscribers: the open subscribe request's own choices, and when it was last mailed

A request on an address that is already known (unsubscribed, bounced) keeps the form's
name, sections and frequency beside the subscriber's until it is confirmed, so a stranger
submitting the address changes nothing the owner sees; ``request_mailed_at`` bounds the
confirmation mails a bounced address gets to one a day.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_name", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("request_sections", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("request_frequency", sa.String(length=16), nullable=True))
        batch_op.add_column(
            sa.Column("request_mailed_at", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("request_mailed_at")
        batch_op.drop_column("request_frequency")
        batch_op.drop_column("request_sections")
        batch_op.drop_column("request_name")
