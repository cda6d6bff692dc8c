"""Log output of the worker: text lines with a timestamp, or one JSON object per line."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

__all__ = ["JsonFormatter", "configure_logging"]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record; a job run's fields (``extra={"job_run": ...}``) or a
    WebSub publish's (``extra={"websub": ...}``) merged in."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as a single line of JSON."""
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        job_run = getattr(record, "job_run", None)
        if isinstance(job_run, dict):
            data["event"] = "job_run"
            data.update(job_run)
        websub = getattr(record, "websub", None)  # pressroom.feeds.websub, one per hub
        if isinstance(websub, dict):
            data["event"] = "websub_publish"
            data.update(websub)
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


def configure_logging(log_format: str) -> None:
    """Switch every root handler to ``text`` (with time) or ``json`` lines."""
    formatter = JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        handler.setFormatter(formatter)
