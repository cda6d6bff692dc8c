"""The files that hold subscribers' data are created for their owner alone (issue 19)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from pressroom.delivery.outgoing import OutgoingMessage
from pressroom.delivery.transport import FileTransport
from pressroom.store.engine import open_store


def test_the_store_and_the_outbox_are_the_owners_alone(tmp_path: Path) -> None:
    """They hold every subscriber's address and personal links (umask 022 notwithstanding)."""
    old = os.umask(0o022)
    try:
        store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
        with store.write() as conn:  # a write: the WAL exists now
            conn.exec_driver_sql("CREATE TABLE probe (x INTEGER)")
        modes = {p.name: p.stat().st_mode & 0o777 for p in tmp_path.glob("store.db*")}
        store.dispose()

        async def send() -> None:
            async with FileTransport(tmp_path / "outbox") as transport:
                await transport.send(OutgoingMessage("a@x.cn", "b@x.cn", b"x\r\n", "<m@x.cn>"))

        asyncio.run(send())
    finally:
        os.umask(old)
    assert "store.db-wal" in modes and set(modes.values()) == {0o600}, modes
    assert (tmp_path / "outbox").stat().st_mode & 0o777 == 0o700
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "outbox").iterdir()} == {0o600}
