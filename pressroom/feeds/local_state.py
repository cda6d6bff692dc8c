"""``[feeds] lease = "local"``: the published fingerprints kept in the output folder.

With the ``store`` lease one builder serves every worker, and the fingerprints live in the
shared ``feed_state`` table. With ``local`` each machine builds its own folder; sharing
one table would make every builder overwrite the others' fingerprints and rebuild forever,
so each folder keeps its own, in a file the web app never serves (no known extension).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

from pressroom.feeds.output_files import write_if_changed

__all__ = ["STATE_FILE", "load_local_fingerprints", "save_local_fingerprints"]

STATE_FILE = ".pressroom-feed-state"


def load_local_fingerprints(out: Path) -> dict[str, str]:
    """Feed name to the fingerprint of its last build into ``out`` (empty: none yet)."""
    try:
        data = json.loads((out / STATE_FILE).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):  # first build, or a damaged file: rebuild all
        return {}
    return {str(name): str(fp) for name, fp in data.get("fingerprints", {}).items()}


def save_local_fingerprints(
    out: Path,
    changed: Mapping[str, tuple[str, datetime | None]],
    removed: Sequence[str],
) -> None:
    """Record ``changed`` feeds (name to fingerprint, newest time) and forget ``removed``."""
    fingerprints = load_local_fingerprints(out)
    fingerprints.update({name: fp for name, (fp, _newest) in changed.items()})
    for name in removed:
        fingerprints.pop(name, None)
    text = json.dumps({"fingerprints": fingerprints}, sort_keys=True, indent=1)
    write_if_changed(out / STATE_FILE, (text + "\n").encode("utf-8"))
