"""The part of the configuration a digest reads.

Sending, planning, selection, rendering and composition take a :class:`DigestConfig`
rather than the whole settings: it names what they depend on, with paths already resolved
against the config file's folder. :func:`pressroom.wiring.digest_config` is the one place
that builds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from pressroom.config import DigestSettings, DkimSettings, MailSettings, ScheduleSettings
from pressroom.models import ImportanceRule

__all__ = ["DigestConfig"]


@dataclass(frozen=True, slots=True)
class DigestConfig:
    """What a digest needs to know about the site, its mail and its links.

    Attributes:
        site_name: ``[site] name`` (From name, List-Id, templates).
        site_url: ``[site] base_url``; article links are made absolute against it.
        language: ``[site] language``.
        postal_address: ``[site] postal_address``, printed in every mail's footer.
        site_timezone: ``[site] timezone``, for dates people read.
        mail: ``[mail]``: the sender's address and name, Reply-To, the unsubscribe mailto,
            the transport.
        outbox: ``[mail] outbox`` resolved (the file transport's folder).
        dkim: ``[mail.dkim]`` with its key file resolved, or None.
        public_url: ``[web] public_url``, the base of unsubscribe and preferences links.
        secret: ``[web] secret``, which signs those links.
        rules: ``[digest]``: ``max_items``, the subject template.
        importance: ``[digest]``'s importance rule.
        templates_dir: ``[digest] templates_dir`` resolved, or None.
        section_weights: ``[[sections]]`` weights, overriding the store's.
        schedules: the digest schedules of ``[[schedules]]`` (none: the default daily one).
        archive_dir: where the public archive is written (``<[feeds] output_dir>/digests``),
            or None when ``[digest] archive = false``.
        archive_url: where that folder is served (ends with ``/``).
    """

    site_name: str
    site_url: str
    language: str
    postal_address: str
    site_timezone: str
    mail: MailSettings
    outbox: Path
    dkim: DkimSettings | None
    public_url: str
    secret: str
    rules: DigestSettings
    importance: ImportanceRule
    templates_dir: Path | None
    section_weights: Mapping[str, float]
    schedules: tuple[ScheduleSettings, ...]
    archive_dir: Path | None = None
    archive_url: str = ""

    @property
    def zone(self) -> ZoneInfo:
        """The site's time zone."""
        return ZoneInfo(self.site_timezone)
