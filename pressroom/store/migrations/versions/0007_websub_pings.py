"""websub_pings: publish pings sent to each WebSub hub, by every process on the store

One row per hub: ``ok`` and ``failed`` count feed URLs (a counter each), ``last_at`` the
newest ping. Worker and command processes add to them; ``/metrics`` on any web process
reads them, so the figures are true whichever process built the feeds.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "websub_pings",
        sa.Column("hub", sa.String(length=1024), nullable=False),
        sa.Column("ok", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("failed", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hub", name=op.f("pk_websub_pings")),
    )


def downgrade() -> None:
    op.drop_table("websub_pings")
