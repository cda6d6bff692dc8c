"""The one exception tree of pressroom.

Every error a user can cause or meet is one of these; their messages are one sentence
that names the setting, line, article or address involved. The command line prints the
message and exits with :attr:`PressroomError.exit_code`.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DeliveryError",
    "ImportRowError",
    "JobFailed",
    "OutputError",
    "PressroomError",
    "SourceError",
    "SourceUnavailable",
    "StoreError",
    "StoreUnavailable",
    "UsageError",
]


class PressroomError(Exception):
    """Base of every error pressroom raises on purpose."""

    exit_code = 1


class UsageError(PressroomError):
    """Raised when a command is called with arguments that cannot work."""

    exit_code = 2


class ConfigError(PressroomError):
    """Raised when the configuration file or environment is invalid.

    ``problems`` holds one line per bad field (``file: field.path: reason``).
    """

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class StoreError(PressroomError):
    """Raised when the article store cannot be opened, migrated or queried."""


class StoreUnavailable(StoreError):
    """Raised when the store cannot serve a transaction: unreachable, locked beyond the busy
    timeout, read-only or out of space. The message says which, without SQL or values."""


class OutputError(PressroomError):
    """Raised when a file pressroom writes (a feed, the index, an export, a preview, a
    config) cannot be written; the message names the path and the system's reason."""


class ImportRowError(PressroomError):
    """Raised for one bad row of an import; the importer reports it and goes on."""


class SourceError(PressroomError):
    """Raised when an article source (``[sources.<name>]``) cannot be synced: its query was
    refused or returns columns that are not article fields; the message names the source."""


class SourceUnavailable(SourceError):
    """Raised when an article source's database cannot be reached or logged into."""


class DeliveryError(PressroomError):
    """Raised when a message cannot be handed to the mail transport."""


class JobFailed(PressroomError):
    """Raised when a job (feeds build, digest run) ran and did not succeed."""
