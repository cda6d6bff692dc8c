"""source_state and source_rows: what each article source has synced

``source_state``: one row per ``[sources.<name>]``, its watermark (the newest change time
read) and when its last full pass ran. ``source_rows``: per source and article URL, a hash
of the values last written, so a row read again unchanged costs no write.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "source_state",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=True),
        sa.Column("full_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_source_state")),
    )
    op.create_table(
        "source_rows",
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("source", "url", name=op.f("pk_source_rows")),
    )


def downgrade() -> None:
    op.drop_table("source_rows")
    op.drop_table("source_state")
