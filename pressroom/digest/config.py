"""The part of the configuration a digest reads, taken from :class:`Settings` once.

Planning, selection, rendering and composition take a :class:`DigestConfig` rather than
the whole settings: it names what they depend on, with paths already resolved against the
config file's folder. :func:`digest_config` is the one place that builds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from pressroom.config import DigestSettings, DkimSettings, MailSettings, Settings
from pressroom.errors import ConfigError

__all__ = ["DigestConfig", "digest_config"]


@dataclass(frozen=True, slots=True)
class DigestConfig:
    """What a digest needs to know about the site, its mail and its links.

    Attributes:
        site_name: ``[site] name`` (From name, List-Id, templates).
        site_url: ``[site] base_url``; article links are made absolute against it.
        language: ``[site] language``.
        postal_address: ``[site] postal_address``, printed in every mail's footer.
        site_timezone: ``[site] timezone``, for dates people read.
        mail: ``[mail]``: the sender's address and name, Reply-To, the unsubscribe mailto.
        dkim: ``[mail.dkim]`` with its key file resolved, or None.
        public_url: ``[web] public_url``, the base of unsubscribe and preferences links.
        secret: ``[web] secret``, which signs those links.
        rules: ``[digest]``: importance rules, ``max_items``, the subject template.
        templates_dir: ``[digest] templates_dir`` resolved, or None.
        section_weights: ``[[sections]]`` weights, overriding the store's.
    """

    site_name: str
    site_url: str
    language: str
    postal_address: str
    site_timezone: str
    mail: MailSettings
    dkim: DkimSettings | None
    public_url: str
    secret: str
    rules: DigestSettings
    templates_dir: Path | None
    section_weights: Mapping[str, float]

    @property
    def zone(self) -> ZoneInfo:
        """The site's time zone."""
        return ZoneInfo(self.site_timezone)


def digest_config(settings: Settings) -> DigestConfig:
    """The digest's view of ``settings``.

    Raises:
        ConfigError: ``[web] secret`` is not set (digest links cannot be signed).
    """
    site, mail, digest = settings.site, settings.mail, settings.digest
    dkim = mail.dkim
    if dkim is not None:
        dkim = dkim.model_copy(update={"key_file": settings.path(dkim.key_file)})
    templates = digest.templates_dir
    return DigestConfig(
        site_name=site.name,
        site_url=site.base_url,
        language=site.language,
        postal_address=site.postal_address,
        site_timezone=site.timezone,
        mail=mail,
        dkim=dkim,
        public_url=settings.web.public_url,
        secret=_secret(settings),
        rules=digest,
        templates_dir=None if templates is None else settings.path(templates),
        section_weights=settings.section_weights,
    )


def _secret(settings: Settings) -> str:
    secret = settings.web.secret
    if secret is None:
        raise ConfigError(
            [
                "web.secret: not set; digest links need it to sign unsubscribe tokens "
                "(set it in pressroom.toml or $PRESSROOM_WEB__SECRET)"
            ]
        )
    return secret.get_secret_value()
