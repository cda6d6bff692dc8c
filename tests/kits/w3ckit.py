"""The W3C Feed Validation Service, run offline on files we wrote.

The validator (https://github.com/w3c/feedvalidator, Python 3, needs ``html5lib``) is not
on PyPI: point ``FEEDVALIDATOR_SRC`` at its ``src`` folder (a checkout or an unpacked
archive). Tests that need it skip, saying so, when it is not there.
"""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any

import pytest

# Read at import: the shared autouse fixture hides PRESSROOM_* variables (this is not one).
SOURCE = Path(os.environ.get("FEEDVALIDATOR_SRC", "/nonexistent"))


def _validator() -> Any:
    if not (SOURCE / "feedvalidator" / "__init__.py").is_file():
        pytest.skip("the W3C feed validator is not installed: set FEEDVALIDATOR_SRC")
    pytest.importorskip("html5lib", reason="the W3C feed validator needs html5lib")
    if str(SOURCE) not in sys.path:
        sys.path.insert(0, str(SOURCE))
    import feedvalidator

    return feedvalidator


def w3c_problems(path: Path, url: str, content_type: str) -> list[str]:
    """Every error and warning the W3C validator reports for ``path`` served at ``url``.

    The same filter as validator.w3.org/feed ("AA"): errors and warnings, not notes.
    """
    feedvalidator = _validator()
    from feedvalidator import compatibility
    from feedvalidator.formatter.text_plain import Formatter

    try:
        result = feedvalidator.validateStream(
            io.BytesIO(path.read_bytes()), contentType=content_type, base=url
        )
        events = result["loggedEvents"]
    except feedvalidator.logging.ValidationFailure as failure:
        events = [failure.event]
    return list(Formatter(compatibility.AA(events)))
