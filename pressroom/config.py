"""Settings: ``pressroom.toml`` plus ``PRESSROOM_*`` environment overrides, validated once.

Precedence, highest first: keyword arguments, the environment (``PRESSROOM_`` prefix,
``__`` between nested keys: ``PRESSROOM_MAIL__SMTP__PORT=2525``), the TOML file, the
defaults below. Relative paths in the file are relative to the file's folder. Secrets are
:class:`~pydantic.SecretStr` and never printed.

Use :func:`load_settings`; it raises :class:`~pressroom.errors.ConfigError` with one line
per problem (``pressroom.toml: mail.smtp.port: reason``).
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from pressroom.errors import ConfigError
from pressroom.job_kinds import kind_rules
from pressroom.models import Frequency, ImportanceRule, JobKind

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "DEFAULT_SCHEDULES",
    "BouncesSettings",
    "DigestSettings",
    "FeedsSettings",
    "MailSettings",
    "ScheduleSettings",
    "SectionSettings",
    "Settings",
    "SiteSettings",
    "SmtpSettings",
    "SourceSettings",
    "SqlSourceSettings",
    "StoreSettings",
    "WebSettings",
    "WordPressSourceSettings",
    "default_config_path",
    "deployment_check",
    "listen_address",
    "load_settings",
    "redact_url",
]

DEFAULT_CONFIG_NAME = "pressroom.toml"
ENV_PREFIX = "PRESSROOM_"


class _Strict(BaseModel):
    """Base of every settings table: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an absolute http(s) URL, got {value!r}")
    return value if value.endswith("/") else value + "/"


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)"
        ) from None
    return value


_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _parse_duration(value: object) -> object:
    if isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise ValueError(f"must be seconds or a duration like '30m' or '6h', got {value!r}")
        return int(match.group(1)) * _DURATION_UNITS[match.group(2)]
    return value


def _check_absolute_url(value: str | None) -> str | None:
    """An absolute http(s) URL, kept as written (a file URL gets no slash added)."""
    if value is not None:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an absolute http(s) URL, got {value!r}")
    return value


_WATCH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")
_WATCH_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}


def _parse_watch(value: object) -> object:
    """``"2s"``, ``"500ms"``, ``"1m"`` or a number of seconds; ``"0"`` turns the watch off."""
    if isinstance(value, str):
        match = _WATCH.match(value)
        if not match:
            raise ValueError(f"must be an interval like '2s' or '500ms' ('0': off), got {value!r}")
        return float(match.group(1)) * _WATCH_UNITS[match.group(2)]
    return value


class SiteSettings(_Strict):
    """``[site]``: the news site being published."""

    name: str = Field(
        "pressroom",
        min_length=1,
        description=(
            "The site's name: feed titles (`<name> · <section>`) and the digest's sender name."
        ),
    )
    base_url: str = Field(
        "https://www.example.com/",
        description=(
            "The site's home page; relative links in article bodies are made absolute against it."
        ),
    )
    language: str = Field("zh-CN", description="The language of feeds, mails and pages (BCP 47).")
    timezone: str = Field(
        "Asia/Shanghai",
        description=(
            "The time zone for dates people read, and for input times without a zone (IANA name)."
        ),
    )
    postal_address: str = Field(
        "",
        description=(
            "The sender's postal address, shown in every digest's footer (anti-spam laws want one)."
        ),
    )
    logo_url: str | None = Field(
        None,
        description="A logo: RSS `<image>`, Atom `<logo>`, JSON Feed `icon`.",
    )
    icon_url: str | None = Field(
        None,
        description=(
            "A small square icon: Atom `<icon>`, JSON Feed `favicon` (and RSS `<image>` without a "
            "logo)."
        ),
    )
    copyright: str | None = Field(
        None,
        description="A copyright line: RSS `<copyright>`, Atom `<rights>`.",
    )

    _check_url = field_validator("base_url")(_check_http_url)
    _check_images = field_validator("logo_url", "icon_url")(_check_absolute_url)
    _check_tz = field_validator("timezone")(_check_zone)

    @property
    def tz(self) -> ZoneInfo:
        """The site's time zone, for dates people read and for naive input times."""
        return ZoneInfo(self.timezone)


_URL_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*):([^@/?#]*)@")


def redact_url(url: str) -> str:
    """``url`` with its password masked: ``postgresql+psycopg://postgres:***@host/db``."""
    return _URL_PASSWORD.sub(r"\1:***@", url, count=1)


class StoreSettings(_Strict):
    """``[store]``: where articles and pressroom's own tables live."""

    url: str = Field(
        "sqlite:///pressroom.db",
        description=(
            "The store: `sqlite:///file.db` (relative to the config's folder) or "
            "`postgresql+psycopg://user@host/db`."
        ),
    )
    busy_timeout: float = Field(
        30.0,
        gt=0,
        le=3600,
        description=(
            "Seconds a write waits for another process's lock (SQLite's busy timeout); a digest "
            "send also bounds each ledger statement by it, PostgreSQL included."
        ),
    )

    @field_validator("url")
    @classmethod
    def _check_store_url(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError(
                f"must start with sqlite:/// or postgresql+psycopg://, got {value.split(':')[0]!r}"
            )
        try:
            urlsplit(value).port  # noqa: B018 - raises on a port that is not a number
        except ValueError as exc:
            raise ValueError(f"{redact_url(value)} has a bad port: {exc}") from None
        return value


class SectionSettings(_Strict):
    """One ``[[sections]]`` entry."""

    slug: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        max_length=64,
        description="The feed folder name (a-z, 0-9, -).",
    )
    name: str = Field(
        min_length=1, description="The section's name shown to readers (e.g. 重要讲话)."
    )
    weight: float = Field(
        0.0,
        description="Added to an article's importance score (see `[digest]`).",
    )
    url: str | None = Field(
        None,
        description=(
            "The section's page on the site: its feed's home link (default: `[site] base_url`)."
        ),
    )

    _check_url = field_validator("url")(_check_absolute_url)


class FeedsSettings(_Strict):
    """``[feeds]``: the feed files."""

    output_dir: Path = Field(
        Path("public"),
        description=(
            "Where feed files are written: `<output_dir>/<all|important|slug>/`, plus `feeds.opml`"
            " and `index.html`."
        ),
    )
    # names of the feed-format registry (pressroom.feeds.formats), checked by the
    # composition root (pressroom.wiring.check_feed_formats): this layer cannot import it
    formats: list[str] = Field(
        ["rss", "atom", "json"],
        description=(
            "Which formats each feed folder gets (`rss`, `atom`, `json`); a dropped format's"
            " files are removed."
        ),
    )
    items: int = Field(50, ge=1, le=1000, description="Entries per feed, newest first.")
    content: Literal["full", "summary"] = Field(
        "full",
        description=(
            "`full`: the sanitised article body in every entry; `summary`: the summary only."
        ),
    )
    summary_chars: int = Field(
        120,
        ge=20,
        le=2000,
        description=(
            "Length of generated summaries, in characters (cut on characters for CJK, ends with …)."
        ),
    )
    public_url: str | None = Field(
        None,
        description=(
            "Where the feed files are served from (self links, OPML `xmlUrl`); default: `[web] "
            "public_url`."
        ),
    )
    websub_hub: str | list[str] | None = Field(
        None,
        description=(
            "A WebSub hub URL (or a list) announced in every feed and told of every feed that "
            "changed."
        ),
    )
    websub_batch: int = Field(
        1,
        ge=1,
        le=100,
        description=(
            "Changed feeds named in one publish request to a hub (`hub.url` and `hub.topic` "
            "repeated). 1 suits every hub; raise it only for hubs that read several per "
            "request (Google's does; flask-websub reads the first only)."
        ),
    )
    ttl: int = Field(
        60,
        ge=1,
        description="How long readers may cache a feed, in minutes (RSS `<ttl>`).",
    )
    watch: float = Field(
        2.0,
        ge=0,
        description=(
            "How often `pressroom run` looks for new articles and rebuilds the feeds that changed "
            '(`"2s"`, `"500ms"`; `"0"`: off).'
        ),
    )
    lease: Literal["store", "local"] = Field(
        "store",
        description=(
            "Who builds: `store` (one builder for every worker sharing the store) or `local` (each"
            " worker builds its own `output_dir`)."
        ),
    )

    _check_urls = field_validator("public_url")(lambda v: None if v is None else _check_http_url(v))
    _watch = field_validator("watch", mode="before")(_parse_watch)

    @field_validator("websub_hub")
    @classmethod
    def _check_hubs(cls, value: str | list[str] | None) -> str | list[str] | None:
        # a hub is an endpoint, kept as written (no slash added)
        hubs = value if isinstance(value, list) else [value]
        if any(urlsplit(hub).username is not None for hub in hubs):
            # the hub URL is copied into every public feed, the logs and a metrics label
            raise ValueError("a hub URL must not hold a user name or password (user@host)")
        if isinstance(value, list):
            return [str(_check_absolute_url(hub)) for hub in dict.fromkeys(value)]
        return _check_absolute_url(value)

    @property
    def hubs(self) -> tuple[str, ...]:
        """The WebSub hubs (``websub_hub``: one URL or a list), in the configured order."""
        hub = self.websub_hub
        return () if hub is None else (hub,) if isinstance(hub, str) else tuple(hub)


class ViewTier(_Strict):
    """Articles with at least ``min_views`` views get ``bonus`` (the highest tier wins)."""

    min_views: int = Field(ge=0, description="Page views an article needs to reach this tier.")
    bonus: float = Field(
        description=(
            "Added to the score of an article in this tier (the highest tier reached wins)."
        ),
    )


class DigestSettings(_Strict):
    """``[digest]``: what counts as important, and the digest mail."""

    threshold: float = Field(
        5.0,
        description="An article is important when its score is at least this.",
    )
    headline_bonus: float = Field(
        4.0,
        description="Added to the score of a headline (头条, priority 2).",
    )
    recommended_bonus: float = Field(
        2.0,
        description="Added to the score of a recommended article (推荐, priority 1).",
    )
    view_tiers: list[ViewTier] = Field(
        [
            ViewTier(min_views=1000, bonus=1.0),
            ViewTier(min_views=5000, bonus=2.0),
            ViewTier(min_views=20000, bonus=3.0),
        ],
        description="Bonuses by page views; the highest tier reached counts.",
    )
    max_items: int = Field(
        20,
        ge=1,
        le=200,
        description="At most this many articles in one digest (best first).",
    )
    subject: str = Field(
        "{{ site }} · {{ period }} 要闻 {{ count }} 篇",
        description="The subject line (Jinja2): `site`, `period`, `count`, `first_title`.",
    )
    templates_dir: Path | None = Field(
        None,
        description=(
            "A folder whose templates (`digest.html`, `digest.txt`, ...) override the built-in "
            "ones, file by file."
        ),
    )
    archive: bool = Field(
        True,
        description=(
            "Publish each completed digest as a public page without personal data under "
            "`<[feeds] output_dir>/digests/` (one page per schedule and period, an index, an "
            "Atom `feed.xml` and a `feed.json` per schedule); every mail links to its page. "
            "`false`: nothing public is written and mails carry no such link."
        ),
    )

    @property
    def importance(self) -> ImportanceRule:
        """The importance rule these settings set (for the digest and the ``important`` feed)."""
        return ImportanceRule(
            threshold=self.threshold,
            headline_bonus=self.headline_bonus,
            recommended_bonus=self.recommended_bonus,
            view_tiers=tuple((tier.min_views, tier.bonus) for tier in self.view_tiers),
        )


class SmtpSettings(_Strict):
    """``[mail.smtp]``: the SMTP relay used by the ``smtp`` transport."""

    host: str = Field("localhost", description="The SMTP relay's host.")
    port: int = Field(587, ge=1, le=65535, description="The SMTP relay's port.")
    tls: Literal["starttls", "implicit", "none"] = Field(
        "starttls",
        description=(
            "`starttls` (port 587), `implicit` (TLS from the start, port 465) or `none` (a local "
            "relay)."
        ),
    )
    username: str | None = Field(None, description="The SMTP login, if the relay wants one.")
    password: SecretStr | None = Field(
        None,
        description=(
            "The SMTP password; set `PRESSROOM_MAIL__SMTP__PASSWORD` instead of writing it in the "
            "file."
        ),
    )
    connections: int = Field(
        4,
        ge=1,
        le=64,
        description="Persistent connections used in parallel; each sends many messages.",
    )
    rate: float = Field(0.0, ge=0, description="messages per second, 0 = unlimited")
    timeout: float = Field(30.0, gt=0, description="Seconds to wait for the server at each step.")
    retries: int = Field(
        3,
        ge=0,
        le=20,
        description=(
            "Retries (exponential backoff with jitter) for 4xx replies and dropped connections."
        ),
    )
    smtputf8: bool = Field(
        False,
        description=(
            "Accept addresses with a non-ASCII local part and send them with SMTPUTF8 (the relay "
            "must offer it)."
        ),
    )


class DkimSettings(_Strict):
    """``[mail.dkim]``: sign messages when a key is configured."""

    domain: str = Field(description="The signing domain (`d=`).")
    selector: str = Field(
        description=(
            "The DNS selector (`s=`): the key is published at `<selector>._domainkey.<domain>`."
        ),
    )
    key_file: Path = Field(description="The PEM private key file.")


_VERP_LOCAL_MAX = 24  # 64 - 1 ("+") - 39 (the longest token, pressroom.delivery.verp)


class MailSettings(_Strict):
    """``[mail]``: how digests leave."""

    transport: Literal["file", "smtp"] = Field(
        "file",
        description=(
            "`file`: write each message as an `.eml` file into `outbox`; `smtp`: send through "
            "`[mail.smtp]`."
        ),
    )
    outbox: Path = Field(Path("outbox"), description="Where the `file` transport writes messages.")
    from_address: str = Field(
        "newsletter@example.com",
        description="The address digests are sent from.",
    )
    from_name: str | None = Field(None, description="The sender's name (default: `[site] name`).")
    reply_to: str | None = Field(None, description="A `Reply-To` address.")
    unsubscribe_mailto: str | None = Field(
        None,
        description=(
            "The mailto target of `List-Unsubscribe` (default: `from_address`); when set, each "
            "message's is `local+<token>@domain`."
        ),
    )
    return_path: str | None = Field(
        None,
        description=(
            "VERP: the envelope sender becomes `local+<token>@domain` naming the delivery (at most"
            " 24 characters before the @)."
        ),
    )
    bounce_after: int = Field(
        1,
        ge=1,
        description=(
            "Mark a subscriber bounced after this many permanent (5xx) failures at send time."
        ),
    )
    smtp: SmtpSettings = Field(
        SmtpSettings(),
        description="The SMTP relay used by the `smtp` transport.",
    )
    dkim: DkimSettings | None = Field(
        None,
        description="DKIM signing, when configured (signing at the MTA is faster).",
    )

    @property
    def accepts_utf8_local_parts(self) -> bool:
        """True when addresses like ``读者@example.org`` may subscribe or be imported:
        ``[mail.smtp] smtputf8 = true`` (pass it to ``normalise_email(smtputf8=...)``)."""
        return self.smtp.smtputf8

    @field_validator("from_address", "reply_to", "unsubscribe_mailto", "return_path")
    @classmethod
    def _check_address(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError(f"not an e-mail address: {value!r}")
        return value

    @field_validator("unsubscribe_mailto", "return_path")
    @classmethod
    def _check_verp_room(cls, value: str | None) -> str | None:
        # local + "+" + the longest token must fit RFC 5321's 64-octet local part.
        if value is not None and len(value.rpartition("@")[0]) > _VERP_LOCAL_MAX:
            raise ValueError(
                f"the part before @ must be at most {_VERP_LOCAL_MAX} characters, so that "
                f"'+<token>' still fits a 64-character local part: {value!r}"
            )
        if value is not None and "+" in value.rpartition("@")[0]:
            raise ValueError(f"must not contain '+' (pressroom adds '+<token>'): {value!r}")
        return value


class BouncesSettings(_Strict):
    """``[bounces]``: the mailbox that bounces, complaints and mailto unsubscribes arrive in."""

    source: str | None = Field(
        None,
        description=(
            "The bounce mailbox: `maildir:/path/to/Maildir`, `imaps://user@host/INBOX` or "
            "`imap://...` (STARTTLS)."
        ),
    )
    password: SecretStr | None = Field(
        None,
        description=(
            "The IMAP password; set `PRESSROOM_BOUNCES__PASSWORD` instead of writing it in the "
            "file."
        ),
    )
    ca_file: Path | None = Field(
        None,
        description="Trust this CA for IMAP TLS instead of the system's.",
    )
    soft_limit: int = Field(
        3,
        ge=1,
        description="Soft bounces (4.x.x) within `soft_window` that mark an address bounced.",
    )
    soft_window: int = Field(
        30 * 86400,
        ge=60,
        description='How far back soft bounces count (seconds, or `"30d"`, `"12h"`).',
    )
    address_fallback: bool = Field(
        False,
        description=(
            "Whether a hard or soft bounce without a VERP token may name its subscriber by "
            "address (anyone can write such a report; `config check` refuses `true` together "
            "with `[mail] return_path`, whose tokens make it needless)."
        ),
    )
    max_message_bytes: int = Field(
        2 * 1024 * 1024,
        ge=1024,
        description="Inbound messages bigger than this are set aside in `failed` unparsed.",
    )

    _duration = field_validator("soft_window", mode="before")(_parse_duration)

    @field_validator("source")
    @classmethod
    def _check_source(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.password is not None:
            # the source is shown in logs and errors; the password belongs in the environment
            raise ValueError(
                "must not hold the password (imaps://user@host/INBOX); set "
                "PRESSROOM_BOUNCES__PASSWORD instead"
            )
        if parts.scheme == "maildir" and parts.path:
            return value
        if parts.scheme in ("imap", "imaps") and parts.hostname and parts.username:
            return value
        raise ValueError(
            "must be maildir:/path/to/Maildir or imaps://user@host/INBOX "
            f"(imap:// uses STARTTLS), got {value!r}"
        )


class ScheduleSettings(_Strict):
    """One ``[[schedules]]`` entry: a job on a cron schedule."""

    name: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$",
        description="The schedule's name (in `job_runs`, `status`, metrics and `--schedule`).",
    )
    job: JobKind = Field(
        description="The job it runs: `feeds`, `digest` or `bounces` (sources sync on their "
        "own `interval`, `[sources.<name>]`)."
    )
    cron: str = Field(
        description="A crontab expression (minute hour day month weekday; Sunday = 0 or 7).",
    )
    timezone: str | None = Field(
        None,
        description="The zone the cron expression is read in (default: `[site] timezone`).",
    )
    frequency: Frequency | None = Field(
        None,
        description=(
            "Digest schedules: `daily` or `weekly`, the subscribers who get it (default `daily`)."
        ),
    )
    misfire_grace: int = Field(
        6 * 3600,
        ge=0,
        description=(
            "After downtime, a missed run still happens at start-up if it is at most this late "
            '(seconds, or `"30m"`, `"6h"`).'
        ),
    )

    _check_tz = field_validator("timezone")(lambda v: None if v is None else _check_zone(v))
    _duration = field_validator("misfire_grace", mode="before")(_parse_duration)

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        from apscheduler.triggers.cron import CronTrigger

        from pressroom.cron import crontab_fields

        try:
            CronTrigger(**crontab_fields(value), timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"bad cron expression {value!r}: {exc}") from None
        return value

    @field_validator("job", mode="before")
    @classmethod
    def _scheduled_kind(cls, value: object) -> object:
        if value == "sources":
            raise ValueError(
                "sources are not scheduled by cron: each [sources.<name>] syncs every "
                "`interval` seconds in the worker"
            )
        if value not in ("feeds", "digest", "bounces"):
            raise ValueError(f"Input should be 'feeds', 'digest' or 'bounces', got {value!r}")
        return value

    @model_validator(mode="after")
    def _digest_needs_frequency(self) -> ScheduleSettings:
        if kind_rules(self.job).sends_digest and self.frequency is None:
            object.__setattr__(self, "frequency", Frequency.DAILY)
        return self

    def zone(self, site_zone: str) -> ZoneInfo:
        """The schedule's own ``timezone``, else ``site_zone`` (``[site] timezone``)."""
        return ZoneInfo(self.timezone or site_zone)


DEFAULT_SCHEDULES = (
    ScheduleSettings(name="feeds", job=JobKind.FEEDS, cron="*/15 * * * *"),
    ScheduleSettings(name="daily", job=JobKind.DIGEST, cron="0 7 * * *", frequency=Frequency.DAILY),
)
"""Used when the config has no ``[[schedules]]``: feeds every 15 minutes, a 07:00 digest."""


_SOURCE_URL_SCHEMES = (
    "mysql+pymysql://",
    "mariadb+pymysql://",
    "mysql+mysqldb://",  # mysqlclient, if installed: a C driver, several times faster to read
    "postgresql",
    "sqlite://",
)


class _SourceBase(_Strict):
    """What every ``[sources.<name>]`` table has."""

    url: str = Field(
        description=(
            "The source database as a SQLAlchemy URL: `mysql+pymysql://user@host/db` "
            "(MariaDB/MySQL), `postgresql+psycopg://...` or `sqlite:///path.db` (relative to "
            "the config file)."
        )
    )
    password: SecretStr | None = Field(
        None,
        description="The database password, if not in `url`. Prefer "
        "`PRESSROOM_SOURCES__<NAME>__PASSWORD`.",
    )
    interval: float = Field(
        5.0, gt=0, description="Seconds between two syncs of this source in the worker."
    )
    overlap: int = Field(
        300,
        ge=0,
        description="Each sync reads again this many seconds before the last watermark, so "
        "rows committed late or in the same second are not missed.",
    )
    reconcile: int = Field(
        86400,
        ge=60,
        description="Seconds between full passes, which find rows deleted outright and edits "
        'made without a new change time (`"1d"`, `"6h"`).',
    )
    timezone: str | None = Field(
        None,
        description="The zone of the source's times that carry no offset (default: "
        '`[site] timezone`; `"UTC"` for UTC columns).',
    )
    batch: int = Field(2000, ge=1, le=50_000, description="Rows read and written per batch.")
    timeout: float = Field(
        120.0,
        gt=0,
        description="The longest a sync waits for the source to answer one read (a fetch of "
        "`batch` rows, a lookup); past it the sync stops with one sentence and the next one "
        'connects afresh (`"2m"`).',
    )

    _durations = field_validator("interval", "overlap", "reconcile", "timeout", mode="before")(
        _parse_duration
    )
    _check_tz = field_validator("timezone")(lambda v: None if v is None else _check_zone(v))

    @field_validator("url")
    @classmethod
    def _check_source_url(cls, value: str) -> str:
        if not value.startswith(_SOURCE_URL_SCHEMES):
            raise ValueError(
                "must be a SQLAlchemy URL starting with mysql+pymysql://, "
                f"postgresql+psycopg:// or sqlite:///, got {value.split(':')[0]!r}"
            )
        return value


def _first_word(query: str) -> str:
    """The first keyword of ``query`` in lower case, past comments and opening brackets."""
    rest = query
    while True:
        rest = rest.lstrip().lstrip("(")
        if rest.startswith("--") or rest.startswith("#"):
            rest = rest.partition("\n")[2]
        elif rest.startswith("/*"):
            rest = rest.partition("*/")[2]
        else:
            break
    match = re.match(r"[A-Za-z]+", rest)
    return match.group().lower() if match else ""


class SqlSourceSettings(_SourceBase):
    """``[sources.<name>] kind = "sql"``: a SELECT returning pressroom's article columns."""

    kind: Literal["sql"] = Field(description="`sql`: rows from your own SELECT.")
    query: str = Field(
        min_length=1,
        description=(
            "A SELECT returning the article columns by name (`url`, `section`, `title`, "
            "`published_at`, ...) with `:since` (the watermark minus the overlap; "
            "`:since_epoch` in Unix seconds). See docs/articles.md."
        ),
    )

    @field_validator("query")
    @classmethod
    def _check_query(cls, value: str) -> str:
        first = _first_word(value)
        if first not in ("select", "with"):
            raise ValueError(
                f"must be a SELECT (or WITH ... SELECT), not {first.upper() or 'empty'}: "
                "pressroom only reads a source (give it a read-only user, docs/articles.md)"
            )
        if ":since" not in value:
            raise ValueError(
                "must use the :since parameter (rows changed since the last sync), e.g. "
                "WHERE updated_at >= :since"
            )
        return value


class WordPressSourceSettings(_SourceBase):
    """``[sources.<name>] kind = "wordpress"``: the posts of a WordPress database."""

    kind: Literal["wordpress"] = Field(description="`wordpress`: a WordPress database's posts.")
    table_prefix: str = Field(
        "wp_", pattern=r"^[A-Za-z0-9_]*$", description="WordPress's `$table_prefix`."
    )
    home: str = Field(description="The site's address (WordPress's `home` option).")
    permalink: str = Field(
        "{home}/?p={id}",
        description=(
            "A post's URL: `{home}`, `{id}`, `{slug}`, `{year}`, `{month}`, `{day}`, "
            "`{category}`; it must produce the URLs the site serves."
        ),
    )
    section_map: dict[str, str] = Field(
        {},
        description="WordPress category (slug or name) -> section slug, for categories whose "
        "slug or name is not a section's.",
    )
    views_meta_key: str | None = Field(
        None, description="The post meta key holding a post's view count (a counter plugin's)."
    )

    @field_validator("home")
    @classmethod
    def _check_home(cls, value: str) -> str:
        return str(_check_absolute_url(value)).rstrip("/")

    @field_validator("permalink")
    @classmethod
    def _check_permalink(cls, value: str) -> str:
        fields = set(re.findall(r"{(\w*)}", value))
        unknown = fields - {"home", "id", "slug", "year", "month", "day", "category"}
        if unknown:
            raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}} in {value!r}")
        if not fields & {"id", "slug"}:
            raise ValueError("must contain {id} or {slug} so each post has its own URL")
        return value


SourceSettings = Annotated[SqlSourceSettings | WordPressSourceSettings, Field(discriminator="kind")]
"""One ``[sources.<name>]`` table, by its ``kind``."""


PLACEHOLDER_SECRET = "replace-me-with-pressroom-init-or-PRESSROOM_WEB__SECRET"
"""The secret in ``examples/pressroom.toml``: public, so it is refused wherever it is set."""
MIN_SECRET_CHARS = 32
"""``config check`` refuses a shorter ``[web] secret`` (``init`` writes 43 characters)."""


class WebSettings(_Strict):
    """``[web]``: the web app (feeds, subscribe, unsubscribe, preferences)."""

    host: str = Field("127.0.0.1", description="The address `pressroom serve` listens on.")
    port: int = Field(8080, ge=1, le=65535, description="The port `pressroom serve` listens on.")
    public_url: str = Field(
        "http://127.0.0.1:8080/",
        description=(
            "The web app's public address: links in mails (confirm, unsubscribe, preferences); "
            "https with the `smtp` transport."
        ),
    )
    secret: SecretStr | None = Field(
        None,
        description=(
            "Signs the tokens in links (32 characters or more; `pressroom init` writes one); "
            "changing it voids every link sent. Prefer `PRESSROOM_WEB__SECRET`."
        ),
    )
    subscribe_per_minute: int = Field(
        5,
        ge=1,
        description=(
            "Subscribe requests allowed per client address per minute, across every web process."
        ),
    )
    confirm_max_age: int = Field(
        7 * 86400,
        ge=60,
        description="How long a confirmation link stays valid, in seconds (default 7 days).",
    )
    redis_url: SecretStr | None = Field(
        None,
        description=(
            "Keep the rate-limit counters in Redis (`redis://host:6379/0`) instead of the store."
        ),
    )
    metrics_token: SecretStr | None = Field(
        None,
        description=(
            "A bearer token every scrape of `/metrics` then sends (`Authorization: Bearer "
            "<token>`); only with it is `/metrics` served on the public listener too."
        ),
    )
    metrics_listen: str = Field(
        "127.0.0.1:9464",
        description=(
            "The `host:port` (`[v6]:port`) where `pressroom serve` answers `GET /metrics` "
            "alone, apart from the public listener (Prometheus exporters' port 9464; "
            '`""`: no such listener).'
        ),
    )
    ingest_token: SecretStr | None = Field(
        None,
        description=(
            "Turns on `POST`/`DELETE /api/articles` for a CMS that pushes, which must send "
            "`Authorization: Bearer <token>` (32 characters or more); unset, the API answers "
            "404. Prefer `PRESSROOM_WEB__INGEST_TOKEN`."
        ),
    )
    ingest_per_minute: int = Field(
        120,
        ge=1,
        description="Ingest API requests allowed per client address per minute (with or "
        "without a token), across every web process.",
    )

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str) -> str:
        value = _check_http_url(value)
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 (urlsplit checks the port only when asked)
        except ValueError:
            raise ValueError("the port must be a number from 1 to 65535") from None
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not hold a user name or password (it is in every mail)")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query (?...) or fragment (#...): links extend it")
        return value

    @field_validator("metrics_listen")
    @classmethod
    def _check_metrics_listen(cls, value: str) -> str:
        if value:
            listen_address(value)
        return value

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value() == PLACEHOLDER_SECRET:
            raise ValueError(
                "still the public placeholder of the example config: anyone could forge "
                "unsubscribe and preferences links (`pressroom init` generates a secret)"
            )
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters (pressroom init generates one)")
        return value

    @field_validator("ingest_token")
    @classmethod
    def _check_ingest_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value() != value.get_secret_value().strip():
            # a newline from `echo` or a file: no client could ever send it in a header
            raise ValueError("must not start or end with white space (a newline from a file?)")
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(
                f"must be at least {MIN_SECRET_CHARS} characters (python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))')"
            )
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value


class Settings(BaseSettings):
    """The whole validated configuration; build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    site: SiteSettings = Field(SiteSettings(), description="The news site being published.")
    store: StoreSettings = Field(
        StoreSettings(),
        description="Where articles and pressroom's own tables live.",
    )
    sections: list[SectionSettings] = Field([], description="The sections, in site order.")
    feeds: FeedsSettings = Field(FeedsSettings(), description="The feed files.")
    digest: DigestSettings = Field(
        DigestSettings(),
        description="What counts as important, and the digest mail.",
    )
    mail: MailSettings = Field(MailSettings(), description="How mail leaves.")
    schedules: list[ScheduleSettings] = Field(
        [],
        description=(
            "The worker's jobs on cron schedules (default: feeds every 15 minutes, a daily digest "
            "at 07:00)."
        ),
    )
    web: WebSettings = Field(WebSettings(), description="The web app.")
    bounces: BouncesSettings = Field(
        BouncesSettings(),
        description="The mailbox that bounces, complaints and mailto unsubscribes arrive in.",
    )
    sources: dict[str, SourceSettings] = Field(
        {},
        description="Databases articles are read from, one table each (`[sources.blog]`): "
        "WordPress, DedeCMS, PHPCMS or any SQL. See docs/articles.md.",
    )

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source: Path | None = PrivateAttr(default=None)

    @field_validator("sections", "schedules")
    @classmethod
    def _unique_names(cls, entries: list[Any]) -> list[Any]:
        seen: set[str] = set()
        for entry in entries:
            name = entry.slug if isinstance(entry, SectionSettings) else entry.name
            if name in seen:
                raise ValueError(f"{name!r} is used twice")
            seen.add(name)
        return entries

    @field_validator("sources")
    @classmethod
    def _source_names(cls, entries: dict[str, Any]) -> dict[str, Any]:
        for name in entries:
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name):
                raise ValueError(
                    f"source name {name!r} must be lower-case letters, digits and _ "
                    "(it names the PRESSROOM_SOURCES__<NAME>__PASSWORD variable)"
                )
        return entries

    @property
    def base_dir(self) -> Path:
        """The folder relative paths are resolved against (the config file's folder)."""
        return self._base_dir

    @property
    def source(self) -> Path | None:
        """The config file these settings came from, if any."""
        return self._source

    def path(self, value: Path) -> Path:
        """Resolve a configured path against :attr:`base_dir`."""
        return value if value.is_absolute() else (self._base_dir / value)

    @cached_property
    def store_url(self) -> str:
        """The store URL with a relative SQLite path made absolute."""
        url = self.store.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and url != "sqlite:///:memory:":
            return prefix + str(self.path(Path(url[len(prefix) :])))
        return url

    @property
    def feeds_public_url(self) -> str:
        """Where the feed files are served (``[feeds] public_url``, else ``[web] public_url``)."""
        return self.feeds.public_url or self.web.public_url

    @property
    def section_weights(self) -> dict[str, float]:
        """Section slug to its importance weight."""
        return {s.slug: s.weight for s in self.sections}


class _DictSource(PydanticBaseSettingsSource):
    """A settings source over an already-parsed TOML document."""

    def __init__(self, settings_cls: type[BaseSettings], data: dict[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = data

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


def default_config_path() -> Path:
    """``$PRESSROOM_CONFIG`` if set, else ``./pressroom.toml``."""
    return Path(os.environ.get("PRESSROOM_CONFIG") or DEFAULT_CONFIG_NAME)


def read_toml(path: Path) -> dict[str, Any]:
    """Parse ``path``; raise ConfigError naming the line and column of a syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [f"{path}: config file not found (create one with `pressroom init`)"]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read config file: {exc}"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: {_describe_toml_error(exc)}"]) from None


def _describe_toml_error(exc: tomllib.TOMLDecodeError) -> str:
    match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
    reason = re.sub(r"\s*\(at line.*\)", "", str(exc))
    if match:
        return f"line {match.group(1)}, column {match.group(2)}: TOML syntax error: {reason}"
    return f"TOML syntax error: {reason}"


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read, merge and validate the configuration.

    Args:
        path: the TOML file; ``None`` means defaults and environment only.
        overrides: values that win over everything (used by tests and ``demo``).

    Raises:
        ConfigError: the file is missing or unreadable, or any value is invalid.
    """
    data = read_toml(path) if path is not None else {}

    class _Bound(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return init_settings, env_settings, _DictSource(settings_cls, data)

    label = str(path) if path is not None else "environment"
    try:
        bound = _Bound(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe_validation(label, exc)) from None
    settings = Settings.model_construct(**dict(bound))
    settings._base_dir = (path.parent if path is not None else Path.cwd()).resolve()
    settings._source = path
    return settings


def _describe_validation(label: str, exc: ValidationError) -> list[str]:
    lines = []
    for error in exc.errors(include_url=False):
        field = _field_path(error["loc"])
        reason = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        reason = reason.removeprefix("Value error, ")
        env_name = ENV_PREFIX + "__".join(str(p) for p in error["loc"]).upper()
        where = f"{label} (from ${env_name})" if env_name in os.environ else label
        lines.append(f"{where}: {field or '(top level)'}: {reason}")
    return lines


def _field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("function-after[_check_http_url(), str]",):
            out += f".{part}" if out else str(part)
    return out


_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$")


def _unreachable_kind(host: str) -> str | None:
    """Why no recipient can reach ``host`` ("loopback", "private", "link-local"), or None.

    The host is read in every spelling an address has: ``localhost.``, IPv6 with an
    IPv4-mapped tail, and the numeric forms that ``inet_aton`` (so curl and browsers)
    accept (``2130706433``, ``0x7f000001``, ``127.1``)."""
    host = host.lower().strip("[]").rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return "loopback"
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(host)
    except ValueError:
        if not _NUMERIC_HOST.match(host):
            return None
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback or address.is_unspecified:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_private:
        return "private"
    return None


def listen_address(value: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` as ``(host, port)``.

    Raises:
        ValueError: not in that form, or the port is not 0-65535.
    """
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise ValueError(f"{value!r}: must be host:port, e.g. 127.0.0.1:9464 or [::1]:9464")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"{value!r}: write an IPv6 address in brackets, e.g. [::1]:9464")
    return host, int(port)


def deployment_check(settings: Settings) -> tuple[list[str], list[str]]:
    """What ``config check`` adds to validation: ``(problems, warnings)``, one line each.

    Problems would hurt recipients or let others forge links (exit 2): a ``[web] secret``
    shorter than :data:`MIN_SECRET_CHARS`, and with the ``smtp`` transport a ``public_url``
    that is not https or is a loopback address (every mail's links, among them RFC 8058's
    one-click unsubscribe, which must be https), and ``[bounces] address_fallback`` with
    ``[mail] return_path`` (every mail carries a token; token-less reports are anyone's).
    Warnings: no postal address, no DKIM.
    """
    problems: list[str] = []
    warnings: list[str] = []
    secret = settings.web.secret
    if secret is None:
        problems.append("web.secret: not set (`pressroom init` generates one)")
    elif len(secret.get_secret_value()) < MIN_SECRET_CHARS:
        problems.append(
            f"web.secret: must be at least {MIN_SECRET_CHARS} characters to sign links "
            "(`pressroom init` generates one; python -c 'import secrets; "
            "print(secrets.token_urlsafe(32))')"
        )
    url = urlsplit(settings.web.public_url)
    if settings.mail.transport == "smtp":
        unreachable = _unreachable_kind(url.hostname or "")
        if unreachable is not None:
            problems.append(
                f"web.public_url: {settings.web.public_url} is a {unreachable} address, which no "
                'recipient can reach; with transport = "smtp" set the site\'s public https URL'
            )
        elif url.scheme != "https":
            problems.append(
                f"web.public_url: {settings.web.public_url} is not https; mail links and the "
                'one-click unsubscribe (RFC 8058) need an https URL with transport = "smtp"'
            )
    if settings.bounces.address_fallback and settings.mail.return_path is not None:
        problems.append(
            "bounces.address_fallback: true while [mail] return_path gives every mail a "
            "signed token; anyone can write a token-less report, so set it to false"
        )
    if not settings.site.postal_address.strip():
        warnings.append(
            "site.postal_address: empty; anti-spam laws (CAN-SPAM) want the sender's postal "
            "address in every digest"
        )
    if settings.mail.dkim is None:
        warnings.append(
            "mail.dkim: not configured; unsigned mail is more often rejected or filed as "
            "spam (sign here with [mail.dkim] or at your relay)"
        )
    return problems, warnings
