"""The store's tables, as SQLAlchemy Core metadata (the migrations create them).

``sections`` and ``articles`` are the article store, which pressroom only reads in
production (an operator may point it at a view over a CMS); ``import`` and ``demo``
write them. Every other table is pressroom's own.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

__all__ = [
    "UTCDateTime",
    "articles",
    "bounce_events",
    "consent_events",
    "deliveries",
    "digests",
    "feed_state",
    "job_runs",
    "leases",
    "metadata",
    "rate_limits",
    "sections",
    "source_rows",
    "source_state",
    "subscribers",
    "websub_pings",
    "workers",
]


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend.

    PostgreSQL stores ``timestamptz``; SQLite stores naive UTC text, which sorts
    correctly. Naive values are refused: callers convert at the edge.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} reached the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

sections = Table(
    "sections",
    metadata,
    Column("slug", String(64), primary_key=True),
    Column("name", Text, nullable=False),
    Column("weight", Float, nullable=False, server_default="0"),
    Column("position", Integer, nullable=False, server_default="0"),
)

articles = Table(
    "articles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", Text, nullable=False, unique=True),
    Column("section", String(64), nullable=False),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False, server_default=""),
    Column("body_html", Text, nullable=False, server_default=""),
    Column("authors", Text, nullable=False, server_default=""),
    Column("image_url", Text),
    Column("published_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("views", Integer, nullable=False, server_default="0"),
    Column("priority", SmallInteger, nullable=False, server_default="0"),
    Column("status", String(16), nullable=False, server_default="published"),
    # "newest N of a section" and "published in a window" must be index scans at any
    # size; the partial index keeps "important" candidates (priority > 0) cheap.
    Index("ix_articles_section_published", "section", "published_at"),
    Index("ix_articles_published", "published_at"),
    Index(
        "ix_articles_priority_published",
        "published_at",
        sqlite_where=text("priority > 0"),
        postgresql_where=text("priority > 0"),
    ),
)

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False),  # as first written
    # One subscriber per mailbox: the address with its local part lower-cased (0003).
    Column("email_key", String(320), nullable=False, unique=True),
    # The opaque random key that links carry instead of the sequential id (0003).
    Column("public_key", String(32), nullable=False, unique=True),
    # The pending request's nonce: a confirm link is valid only for the request it was
    # made for; any later change of state clears or replaces it (0003).
    Column("confirm_nonce", String(32)),
    Column("name", Text, nullable=False, server_default=""),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("sections", Text, nullable=False, server_default=""),  # slugs joined by ","
    Column("frequency", String(16), nullable=False, server_default="daily"),
    Column("bounces", Integer, nullable=False, server_default="0"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("confirmed_at", UTCDateTime),
    # The open request's own choices (a known address's request), applied only when it is
    # confirmed, and when it was last mailed (a bounced address: once a day) (0008).
    Column("request_name", Text),
    Column("request_sections", Text),
    Column("request_frequency", String(16)),
    Column("request_mailed_at", UTCDateTime),
    Index("ix_subscribers_status_frequency", "status", "frequency"),
)

digests = Table(
    "digests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("schedule", String(64), nullable=False),
    Column("period", String(32), nullable=False),  # "2026-11-29" (daily), "2026-W48" (weekly)
    Column("frequency", String(16), nullable=False),
    Column("window_start", UTCDateTime, nullable=False),
    Column("window_end", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False, server_default="open"),
    Column("created_at", UTCDateTime, nullable=False),
    Column("completed_at", UTCDateTime),
    Column("summary", Text, nullable=False, server_default=""),
    Column("article_ids", Text, nullable=False, server_default=""),  # frozen selection (0002)
    UniqueConstraint("schedule", "period"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("digest_id", Integer, ForeignKey("digests.id"), nullable=False),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("status", String(16), nullable=False, server_default="queued"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("message_id", Text),
    Column("claimed_by", String(128)),
    Column("claimed_at", UTCDateTime),
    Column("sent_at", UTCDateTime),
    UniqueConstraint("digest_id", "subscriber_id"),
    Index("ix_deliveries_digest_status", "digest_id", "status"),
)

consent_events = Table(
    "consent_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscriber_id", Integer, ForeignKey("subscribers.id"), nullable=False),
    Column("from_status", String(16)),  # None: the address was new
    Column("to_status", String(16), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("source", String(16), nullable=False),  # a ConsentSource
    Column("ip", String(64)),  # the request's address, for changes made on the web
    Column("note", Text, nullable=False, server_default=""),
    Index("ix_consent_events_subscriber_at", "subscriber_id", "at"),
)

bounce_events = Table(
    "bounce_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # SHA-256 of the Message-ID and of the raw bytes' SHA-256: a message seen twice is
    # recognised and changes nothing (0005; the raw hash since issue 19).
    Column("message_key", String(64), nullable=False, unique=True),
    Column("message_id", Text, nullable=False, server_default=""),
    Column("received_at", UTCDateTime, nullable=False),
    Column("processed_at", UTCDateTime, nullable=False),
    Column("kind", String(16), nullable=False),  # a BounceKind
    Column("status_code", String(16)),  # the DSN's Status, e.g. 5.1.1
    Column("diagnostic", Text, nullable=False, server_default=""),
    Column("recipient", String(320)),  # the address the report names
    Column("subscriber_id", Integer, ForeignKey("subscribers.id")),
    Column("digest_id", Integer),  # the run the VERP token names; None for a confirmation
    Column("action", String(16), nullable=False, server_default=""),  # what was applied
    Column("note", Text, nullable=False, server_default=""),
    Index("ix_bounce_events_subscriber_kind_received", "subscriber_id", "kind", "received_at"),
    Index("ix_bounce_events_received", "received_at"),
)

job_runs = Table(
    "job_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job", String(16), nullable=False),
    Column("schedule", String(64), nullable=False, server_default=""),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("outcome", String(16), nullable=False, server_default="running"),
    Column("summary", Text, nullable=False, server_default=""),
    Column("error", Text),
    Column("worker", String(128), nullable=False, server_default=""),
    Column("trigger", String(16), nullable=False, server_default="schedule"),  # 0004
    # 0004: the run's own heartbeat (store clock): a running row whose heartbeat is older
    # than two beats is abandoned, whoever ran it (worker or command).
    Column("seen_at", UTCDateTime),
    # 0004: why a run was skipped ("lease": another process built the feeds; "misfire":
    # the fire was missed beyond its grace), None otherwise.
    Column("reason", String(16)),
    # 0004: what the run produced (feed files written, messages sent), for /metrics.
    Column("produced", Integer, nullable=False, server_default="0"),
    Index("ix_job_runs_job_started", "job", "started_at"),
    Index("ix_job_runs_job_outcome_finished", "job", "outcome", "finished_at"),  # 0004
    Index("ix_job_runs_schedule_started", "schedule", "started_at"),  # 0004
    Index("ix_job_runs_outcome", "outcome"),  # 0004: the running runs, for /metrics
)

feed_state = Table(
    "feed_state",
    metadata,
    Column("name", String(128), primary_key=True),  # "all", "important", a section slug
    Column("fingerprint", String(128), nullable=False),
    Column("newest_at", UTCDateTime),
    Column("built_at", UTCDateTime, nullable=False),
)

leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

workers = Table(
    "workers",
    metadata,
    Column("id", String(128), primary_key=True),  # host:pid:start
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
)

rate_limits = Table(
    "rate_limits",
    metadata,
    Column("bucket", String(64), primary_key=True),  # sha256(limit name | client key)[:32]
    Column("slot", BigInteger, primary_key=True),  # floor(unix time / window seconds)
    Column("hits", Integer, nullable=False),
    Column("expires_at", BigInteger, nullable=False),  # unix seconds; pruned after
    Index("ix_rate_limits_expires_at", "expires_at"),
)

websub_pings = Table(
    "websub_pings",
    metadata,
    Column("hub", String(1024), primary_key=True),
    Column("ok", BigInteger, nullable=False, server_default="0"),  # feed URLs accepted
    Column("failed", BigInteger, nullable=False, server_default="0"),  # given up on
    Column("last_at", UTCDateTime, nullable=False),
)

# 0008: what each article source (``[sources.<name>]``) has synced.
source_state = Table(
    "source_state",
    metadata,
    Column("name", String(64), primary_key=True),
    # the newest change time read so far; a sync reads from (watermark - overlap)
    Column("watermark", UTCDateTime),
    Column("full_at", UTCDateTime),  # the last full pass (reconcile)
)

source_rows = Table(
    "source_rows",
    metadata,
    Column("source", String(64), primary_key=True),
    Column("url", Text, primary_key=True),
    # a hash of the row's mapped values: an unchanged row costs no write
    Column("content_hash", String(32), nullable=False),
)
