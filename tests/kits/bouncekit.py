"""Helpers for the bounce tests: a site whose bounce mailbox is a Maildir, and the sample
messages of ``mail/`` addressed to a subscriber's signed VERP addresses."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import support
from sqlalchemy import select

from pressroom.bounces.config import BounceConfig
from pressroom.config import Settings
from pressroom.delivery.verp import Purpose, VerpRef, make_token, verp_address
from pressroom.models import BounceKind, SubscriberStatus
from pressroom.store.bounces import BounceRow, list_events
from pressroom.store.engine import Store
from pressroom.store.schema import subscribers
from pressroom.wiring import bounce_config

__all__ = ["MAIL", "Site", "make_maildir", "statuses"]

MAIL = Path(__file__).parents[1] / "bounces" / "mail"
RETURN_PATH = "bounces@mail.test"
UNSUBSCRIBE = "unsubscribe@mail.test"
_counter = itertools.count()


def make_maildir(path: Path) -> Path:
    """An empty Maildir at ``path``."""
    for sub in ("new", "cur", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


def make_site_settings(folder: Path, source: str, **bounces: object) -> Settings:
    """Settings with VERP on (return path and unsubscribe mailto at mail.test)."""
    return support.make_settings(
        folder,
        mail={
            "from_address": "digest@mail.test",
            "return_path": RETURN_PATH,
            "unsubscribe_mailto": UNSUBSCRIBE,
        },
        bounces={"source": source, **bounces},
    )


@dataclass
class Site:
    """A bounce mailbox (Maildir) and the settings that point at it."""

    maildir: Path
    settings: Settings

    @property
    def config(self) -> BounceConfig:
        """Bounce processing's part of the settings."""
        return bounce_config(self.settings)

    def bounce_address(
        self, subscriber_id: int, digest_id: int | None = 7, secret: str = ""
    ) -> str:
        """The VERP envelope sender of a delivery (signed with ``secret`` if given)."""
        token = make_token(
            secret or support.SECRET, Purpose.BOUNCE, VerpRef(subscriber_id, digest_id)
        )
        return verp_address(RETURN_PATH, token)

    def unsubscribe_address(self, subscriber_id: int, digest_id: int | None = 7) -> str:
        """The List-Unsubscribe mailto address of a delivery."""
        token = make_token(support.SECRET, Purpose.UNSUBSCRIBE, VerpRef(subscriber_id, digest_id))
        return verp_address(UNSUBSCRIBE, token)

    def drop(
        self,
        sample: str,
        *,
        rcpt: str,
        bounce: str = RETURN_PATH,
        unsubscribe: str = UNSUBSCRIBE,
        message_id: str | None = None,
    ) -> Path:
        """Deliver ``mail/<sample>`` into the Maildir's ``new`` with the addresses filled in."""
        text = (MAIL / sample).read_bytes()
        message_id = message_id or f"sample-{next(_counter)}@test"
        for mark, value in (("@@BOUNCE@@", bounce), ("@@UNSUB@@", unsubscribe),
                            ("@@RCPT@@", rcpt), ("@@MSGID@@", message_id)):  # fmt: skip
            text = text.replace(mark.encode(), value.encode())
        path = self.maildir / "new" / f"{next(_counter):06d}.{sample}.test"
        path.write_bytes(text.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        return path


def statuses(store: Store) -> dict[str, SubscriberStatus]:
    """Every subscriber's status by address."""
    with store.read() as conn:
        rows = conn.execute(select(subscribers.c.email, subscribers.c.status))
        return {email: SubscriberStatus(status) for email, status in rows}


def events(store: Store, *kinds: BounceKind) -> list[BounceRow]:
    """The recorded bounce events, newest first."""
    with store.read() as conn:
        return list_events(conn, kinds=kinds)
