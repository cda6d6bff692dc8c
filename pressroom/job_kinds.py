"""What each kind of job (``[[schedules]]`` ``job``) means, in one table.

This is the one place that tells the kinds apart: the config (a digest schedule gets a
frequency), ``status`` and ``/metrics`` (does a run belong to its schedule, or to the job
whatever started it?), the start-up catch-up (when is a period done?) and the digest
(which schedules send one) ask :func:`kind_rules` instead of comparing kinds. The worker's
job registry (:mod:`pressroom.worker.registry`) adds what each kind runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from pressroom.models import JobKind

__all__ = ["KindRules", "kind_rules"]


@dataclass(frozen=True, slots=True)
class KindRules:
    """The facts of one job kind that code outside the worker needs.

    Attributes:
        kind: the kind (``job_runs.job``).
        sends_digest: a run sends its schedule's digest; a period is done when the
            schedule's digest run is completed, and its runs belong to the schedule.
            Otherwise every run does the same work whatever started it (a schedule, a
            command, the watch), so ``status`` and ``/metrics`` read the job's runs.
        busy: what a run is doing, for "another process is <busy>".
        carried_by: what takes care of a period skipped at start-up.
    """

    kind: JobKind
    sends_digest: bool
    busy: str
    carried_by: str


_RULES = {
    JobKind.FEEDS: KindRules(
        JobKind.FEEDS, False, "building the feeds", "the next build catches up"
    ),
    JobKind.DIGEST: KindRules(
        JobKind.DIGEST,
        True,
        "sending the digest",
        "the watermark carries its articles into the next digest",
    ),
    JobKind.BOUNCES: KindRules(
        JobKind.BOUNCES, False, "processing the bounce mailbox", "the next pass catches up"
    ),
    JobKind.SOURCES: KindRules(
        JobKind.SOURCES, False, "syncing the source", "the next sync reads from its watermark"
    ),
}


def kind_rules(kind: JobKind) -> KindRules:
    """The rules of ``kind``."""
    return _RULES[kind]
