"""Plain typed values shared by every part of pressroom.

They carry no behaviour beyond small derived properties; the store creates them, the
feeds, the digest, delivery and the web read them. All datetimes are timezone-aware UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum

__all__ = [
    "Article",
    "ArticleStatus",
    "BounceKind",
    "ConsentEvent",
    "ConsentSource",
    "Credit",
    "DeliveryStatus",
    "DigestStatus",
    "Frequency",
    "ImportanceRule",
    "JobKind",
    "JobOutcome",
    "JobTrigger",
    "Priority",
    "Section",
    "Subscriber",
    "SubscriberStatus",
    "split_credits",
]


class Priority(IntEnum):
    """An article's editorial priority."""

    NORMAL = 0
    RECOMMENDED = 1  # 推荐
    HEADLINE = 2  # 头条


class ArticleStatus(StrEnum):
    """Whether an article is visible."""

    PUBLISHED = "published"
    DRAFT = "draft"
    DELETED = "deleted"


class SubscriberStatus(StrEnum):
    """Where a subscriber stands; only ``active`` ones get digests."""

    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"  # marked the mail as spam (a feedback-loop report)

    @property
    def suppressed(self) -> bool:
        """True for the statuses that only the person's own new confirmation may undo."""
        return self in (
            SubscriberStatus.UNSUBSCRIBED,
            SubscriberStatus.BOUNCED,
            SubscriberStatus.COMPLAINED,
        )


class ConsentSource(StrEnum):
    """What changed a subscriber's status (``consent_events.source``)."""

    WEB = "web"  # the subscribe, confirm, preferences or unsubscribe pages
    ONE_CLICK = "one-click"  # RFC 8058 List-Unsubscribe-Post
    MAILTO = "mailto"  # a mail to the List-Unsubscribe mailto address
    CSV = "csv"  # subscribers import
    CLI = "cli"  # subscribers add / remove
    BOUNCE = "bounce"  # a refusal at send time or a bounce message
    COMPLAINT = "complaint"  # an ARF feedback-loop report
    MIGRATION = "migration"  # a schema migration (case-duplicate merge)


class DigestStatus(StrEnum):
    """Where a digest run stands: ``open`` while deliveries remain, then ``completed``
    (the schedule's watermark moves to its end) or ``failed`` (given up or superseded)."""

    OPEN = "open"
    COMPLETED = "completed"
    FAILED = "failed"


class DeliveryStatus(StrEnum):
    """Where one delivery (one message of a run to one subscriber) stands in the ledger.

    ``queued`` -> ``sending`` (claimed by a sender) -> one of the finished states.
    """

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"  # the relay may have accepted it: never resent automatically
    SKIPPED = "skipped"  # the subscriber left or vanished before their turn

    @property
    def finished(self) -> bool:
        """True once the outcome is on record (not queued, not sending)."""
        return self not in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)


class Frequency(StrEnum):
    """How often a subscriber wants a digest."""

    DAILY = "daily"
    WEEKLY = "weekly"


class JobKind(StrEnum):
    """What a ``[[schedules]]`` entry runs (its ``job`` key)."""

    FEEDS = "feeds"
    DIGEST = "digest"
    BOUNCES = "bounces"
    SOURCES = "sources"  # one job per [sources.<name>], on its own interval (not a schedule)


class BounceKind(StrEnum):
    """What an inbound message to the bounce or unsubscribe address is (``bounce_events.kind``)."""

    HARD = "hard"  # a permanent failure (5.x.x): the address is marked bounced
    SOFT = "soft"  # a temporary failure (4.x.x): bounced after [bounces] soft_limit of them
    COMPLAINT = "complaint"  # an ARF feedback-loop report (Feedback-Type: abuse)
    UNSUBSCRIBE = "unsubscribe"  # a mail to the List-Unsubscribe mailto address
    AUTO_REPLY = "auto-reply"  # a vacation or out-of-office reply: counted, never acted on
    UNKNOWN = "unknown"  # anything else, forged tokens included: counted, never acted on


class JobOutcome(StrEnum):
    """How a run of a scheduled job (``job_runs.outcome``) stands or ended."""

    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"  # another worker held the feeds lease
    STOPPED = "stopped"  # a signal stopped it; the next run resumes
    INCOMPLETE = "incomplete"  # deliveries left to another worker or a resume
    ABANDONED = "abandoned"  # its worker died without recording an end


class JobTrigger(StrEnum):
    """What started a run (``job_runs.trigger``)."""

    SCHEDULE = "schedule"  # a cron fire of a ``[[schedules]]`` entry
    CATCH_UP = "catch-up"  # a missed fire run when a worker starts
    MANUAL = "manual"  # a command: digest send, feeds build, bounces process
    WATCH = "watch"  # the feeds watch saw the store change


@dataclass(frozen=True, slots=True)
class ImportanceRule:
    """What makes an article important (``[digest]``; :mod:`pressroom.importance` applies it).

    Attributes:
        threshold: the score an important article reaches.
        headline_bonus: what a headline adds to the score.
        recommended_bonus: what a recommended article adds.
        view_tiers: ``(min_views, bonus)`` pairs; the highest bonus reached is added.
    """

    threshold: float
    headline_bonus: float
    recommended_bonus: float
    view_tiers: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True, slots=True)
class Section:
    """A section of the site (栏目)."""

    slug: str
    name: str
    weight: float = 0.0
    position: int = 0


@dataclass(frozen=True, slots=True)
class Article:
    """One article as the store holds it."""

    id: int
    url: str
    section: str
    title: str
    summary: str
    body_html: str
    authors: str
    image_url: str | None
    published_at: datetime
    updated_at: datetime
    views: int = 0
    priority: Priority = Priority.NORMAL
    status: ArticleStatus = ArticleStatus.PUBLISHED


@dataclass(frozen=True, slots=True)
class ConsentEvent:
    """One change of a subscriber's status, as ``consent_events`` records it."""

    subscriber_id: int
    from_status: SubscriberStatus | None  # None: the address was new
    to_status: SubscriberStatus
    at: datetime
    source: ConsentSource
    ip: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A mailing-list subscriber; ``sections`` empty means every section."""

    id: int
    email: str
    name: str
    status: SubscriberStatus
    frequency: Frequency
    sections: tuple[str, ...] = field(default_factory=tuple)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    bounces: int = 0
    public_key: str = ""  # the opaque key that links carry instead of ``id``


_CREDIT_SEPARATORS = re.compile(r"[;；,，、\n]+")
_ROLE = re.compile(r"(?P<role>[^:：\s]{1,8})\s*[:：]\s*(?P<names>.+)")
_CJK_NAMES = re.compile(r"[\u3400-\u9fff·•]+(?:\s+[\u3400-\u9fff·•]+)+")


@dataclass(frozen=True, slots=True)
class Credit:
    """One person of a credits line: ``文字:赵磊`` is the name ``赵磊`` in the role ``文字``."""

    name: str
    role: str = ""


def split_credits(credits: str) -> tuple[Credit, ...]:
    """The people of a credits line such as ``文字:岳小乔;视频:王靖远 李明``, each once.

    Entries are separated by ``;`` ``,`` ``、`` (either width) or line breaks; a role
    prefix (``文字:``, ``摄影：``) is kept apart from the name; Chinese names after one role
    may be separated by spaces. A person credited twice is listed once, with the first role.
    """
    text = credits.strip().strip("()（）")
    found: dict[str, Credit] = {}
    for part in _CREDIT_SEPARATORS.split(text):
        entry = part.strip()
        if not entry:
            continue
        match = _ROLE.fullmatch(entry)
        role, names = (match["role"], match["names"].strip()) if match else ("", entry)
        people = names.split() if _CJK_NAMES.fullmatch(names) else [names]
        for name in people:
            found.setdefault(name, Credit(name, role))
    return tuple(found.values())
