"""Consent: one subscriber per mailbox, opaque link keys, confirm nonces, consent_events

``email_key`` is the address with its local part lower-cased: ``X@y.org`` and ``x@y.org``
are one mailbox in practice, so existing case-duplicates are merged into the oldest row,
keeping the strictest status (complained, bounced, unsubscribed win over active, active
over pending), every delivery of the merged rows, and a consent event that says so.
``public_key`` is a random key that tokens carry instead of the sequential id.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Strictest first: a merge keeps the earliest status of this list found in the group.
_STRICTNESS = ["complained", "bounced", "unsubscribed", "active", "pending"]


def _key(email: str) -> str:
    local, _, domain = email.rpartition("@")
    return f"{local.lower()}@{domain.lower()}"


def upgrade() -> None:
    op.create_table(
        "consent_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_consent_events_subscriber_id_subscribers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_events")),
    )
    with op.batch_alter_table("consent_events", schema=None) as batch_op:
        batch_op.create_index("ix_consent_events_subscriber_at", ["subscriber_id", "at"])

    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_key", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("public_key", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("confirm_nonce", sa.String(length=32), nullable=True))

    _fill_keys_and_merge(op.get_bind())

    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.alter_column("email_key", existing_type=sa.String(length=320), nullable=False)
        batch_op.alter_column("public_key", existing_type=sa.String(length=32), nullable=False)
        batch_op.drop_constraint("uq_subscribers_email", type_="unique")
        batch_op.create_unique_constraint(op.f("uq_subscribers_email_key"), ["email_key"])
        batch_op.create_unique_constraint(op.f("uq_subscribers_public_key"), ["public_key"])


def _fill_keys_and_merge(conn: sa.Connection) -> None:
    subscribers = sa.table(
        "subscribers",
        sa.column("id"),
        sa.column("email"),
        sa.column("status"),
        sa.column("email_key"),
        sa.column("public_key"),
    )
    deliveries = sa.table(
        "deliveries", sa.column("id"), sa.column("digest_id"), sa.column("subscriber_id")
    )
    events = sa.table(
        "consent_events",
        sa.column("subscriber_id"),
        sa.column("from_status"),
        sa.column("to_status"),
        sa.column("at"),
        sa.column("source"),
        sa.column("note"),
    )
    groups: dict[str, list[tuple[int, str, str]]] = {}
    rows = conn.execute(sa.select(subscribers.c.id, subscribers.c.email, subscribers.c.status))
    for ident, email, status in rows:
        groups.setdefault(_key(email), []).append((ident, email, status))
    now = datetime.now(UTC)
    if conn.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    for key, members in groups.items():
        members.sort()
        keeper, _, keeper_status = members[0]
        for ident, _, _ in members[1:]:
            _merge_deliveries(conn, deliveries, keeper, ident)
            conn.execute(subscribers.delete().where(subscribers.c.id == ident))
        strictest = min((status for _, _, status in members), key=_rank)
        values = {"email_key": key, "public_key": secrets.token_urlsafe(12)}
        if strictest != keeper_status:
            values["status"] = strictest
        conn.execute(subscribers.update().where(subscribers.c.id == keeper).values(**values))
        if len(members) > 1:
            merged = ", ".join(email for _, email, _ in members[1:])
            conn.execute(
                events.insert().values(
                    subscriber_id=keeper,
                    from_status=keeper_status,
                    to_status=strictest,
                    at=now,
                    source="migration",
                    note=f"merged case-duplicates: {merged}",
                )
            )


def _rank(status: str) -> int:
    return _STRICTNESS.index(status) if status in _STRICTNESS else len(_STRICTNESS)


def _merge_deliveries(
    conn: sa.Connection, deliveries: sa.TableClause, keeper: int, other: int
) -> None:
    """Move ``other``'s deliveries to ``keeper``; where both have one for a digest, keep the
    keeper's (the unique (digest, subscriber) pair allows only one)."""
    taken = set(
        conn.execute(
            sa.select(deliveries.c.digest_id).where(deliveries.c.subscriber_id == keeper)
        ).scalars()
    )
    for ident, digest_id in conn.execute(
        sa.select(deliveries.c.id, deliveries.c.digest_id).where(
            deliveries.c.subscriber_id == other
        )
    ).all():
        if digest_id in taken:
            conn.execute(deliveries.delete().where(deliveries.c.id == ident))
        else:
            conn.execute(
                deliveries.update().where(deliveries.c.id == ident).values(subscriber_id=keeper)
            )
            taken.add(digest_id)


def downgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_subscribers_public_key"), type_="unique")
        batch_op.drop_constraint(op.f("uq_subscribers_email_key"), type_="unique")
        batch_op.create_unique_constraint("uq_subscribers_email", ["email"])
        batch_op.drop_column("confirm_nonce")
        batch_op.drop_column("public_key")
        batch_op.drop_column("email_key")
    op.drop_table("consent_events")
