"""``pressroom`` with every feeds build slowed by argv[1] seconds (for overlap tests).

Usage: python slow_feeds_main.py SECONDS --config FILE run ...
The rest is the real command line, the real worker and the real feeds build.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import pressroom.feeds
from pressroom.cli import main

_real = pressroom.feeds.build_feeds
_delay = float(sys.argv[1])


def _slow(*args: Any, **kwargs: Any) -> Any:
    time.sleep(_delay)
    return _real(*args, **kwargs)


pressroom.feeds.build_feeds = _slow  # type: ignore[assignment]
sys.exit(main(sys.argv[2:]))
