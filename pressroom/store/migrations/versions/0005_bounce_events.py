"""bounce_events: every inbound bounce, complaint, mailto unsubscribe and auto-reply

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass  # filled in by the bounces work (issue 12)


def downgrade() -> None:
    pass
