"""``GET /metrics``: Prometheus text format, computed from the store when scraped.

Every value comes from the shared store (see :mod:`pressroom.store.metrics`), so one web
process per machine, or just one, reports the truth for every worker on every machine.
Nothing is kept between scrapes. The schedules' interval and grace come from the config,
for the alert rules in ``examples/prometheus/alerts.yml``.

Pressroom's own job label is ``pressroom_job``, never ``job``: Prometheus gives every scraped
series a ``job`` label of its own (the scrape job's name), and a target's ``job`` label
would be renamed ``exported_job`` under the default ``honor_labels: false``, so rules that
selected it would match nothing. Every (job, outcome) series of ``pressroom_job_runs_total``
exists from the first scrape, at 0, so ``increase()`` sees the first failure; so does every
(source, outcome) series of ``pressroom_source_syncs_total``, whose ``source`` label takes
only the names of ``[sources.<name>]`` in the config (bounded). With
``[web] metrics_token`` set, a scrape must send ``Authorization: Bearer <token>``.
No public rate limit applies here.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from pressroom.config import DEFAULT_SCHEDULES, ScheduleSettings
from pressroom.cron import crontab_fields
from pressroom.errors import StoreError
from pressroom.job_kinds import kind_rules
from pressroom.models import DeliveryStatus, JobKind, JobOutcome, SubscriberStatus
from pressroom.store.metrics import Snapshot, read_snapshot
from pressroom.store.runs import SILENT_AFTER
from pressroom.web.common import in_read
from pressroom.web.context import WebContext

__all__ = ["MetricsEndpoint", "metrics_endpoint", "schedule_interval"]

_FINISHED = [s.value for s in DeliveryStatus if s.finished]
_RUN_OUTCOMES = [o.value for o in JobOutcome if o is not JobOutcome.RUNNING]


def schedule_interval(schedule: ScheduleSettings, zone_name: str, now: datetime) -> float:
    """Seconds between the schedule's next two fire times (its period, for alert rules)."""
    zone = schedule.zone(zone_name)
    trigger = CronTrigger(timezone=zone, **crontab_fields(schedule.cron))
    first = trigger.get_next_fire_time(None, now)
    second = trigger.get_next_fire_time(first, first + timedelta(seconds=1)) if first else None
    if first is None or second is None:
        return 0.0
    return float((second - first).total_seconds())


def metrics_endpoint(
    token: str | None,
    schedules: Sequence[ScheduleSettings],
    zone: str,
    sources: Sequence[str] = (),
) -> Callable[[WebContext, Request], Awaitable[Response]]:
    """The ``/metrics`` handler (a plain function, as routes want); arguments as
    :class:`MetricsEndpoint`."""
    endpoint = MetricsEndpoint(token, schedules, zone, sources)

    async def metrics(ctx: WebContext, request: Request) -> Response:
        return await endpoint(ctx, request)

    return metrics


class MetricsEndpoint:
    """The ``/metrics`` handler: its bearer token and what it keeps between scrapes.

    Args:
        token: ``[web] metrics_token``, which a scrape must send (None: no token needed).
        schedules: ``[[schedules]]`` (none configured: the default ones).
        zone: ``[site] timezone``, for the schedules without their own.
        sources: the names of ``[sources.<name>]``: the values of the ``source`` label
            (bounded by the config; a source no longer configured is not reported).
    """

    def __init__(
        self,
        token: str | None,
        schedules: Sequence[ScheduleSettings],
        zone: str,
        sources: Sequence[str] = (),
    ) -> None:
        self.token = token
        self.schedules = list(schedules) or list(DEFAULT_SCHEDULES)
        self.zone = zone
        self.sources = sorted(sources)

    async def __call__(self, ctx: WebContext, request: Request) -> Response:
        """Answer one scrape."""
        if self.token is not None and not self._authorised(request):
            return PlainTextResponse(
                "a bearer token is required\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="pressroom metrics"'},
            )
        jobs = [str(job) for job in JobKind]
        names = [schedule.name for schedule in self.schedules]
        try:
            snap = await in_read(ctx, lambda conn: read_snapshot(conn, jobs, names, self.sources))
        except (SQLAlchemyError, StoreError):
            return PlainTextResponse("the store does not answer\n", status_code=503)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Families(snap, self.schedules, self.zone, self.sources))
        return Response(
            generate_latest(registry),
            media_type=CONTENT_TYPE_LATEST,
            headers={"Cache-Control": "no-store"},
        )

    def _authorised(self, request: Request) -> bool:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        assert self.token is not None
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self.token.encode()
        )


class _Families(Collector):
    """The metric families of one snapshot (built per scrape, nothing kept)."""

    def __init__(
        self, snap: Snapshot, schedules: list[ScheduleSettings], zone: str, sources: list[str]
    ) -> None:
        self.snap, self.schedules, self.zone, self.sources = snap, schedules, zone, sources

    def collect(self) -> Iterable[Metric]:
        """Yield every family."""
        yield from self._deliveries()
        yield from self._runs()
        yield from self._sources()
        yield from self._schedules()
        yield from self._workers()

    def _deliveries(self) -> Iterator[Metric]:
        snap = self.snap
        digest_schedules = [s.name for s in self.schedules if kind_rules(s.job).sends_digest]
        total = CounterMetricFamily(
            "pressroom_deliveries",
            "Deliveries recorded with a final status, by digest schedule and status.",
            labels=["schedule", "status"],
        )
        for schedule in sorted({*digest_schedules, *(k[0] for k in snap.deliveries)}):
            for status in _FINISHED:
                total.add_metric([schedule, status], snap.deliveries.get((schedule, status), 0))
        yield total
        open_runs = GaugeMetricFamily(
            "pressroom_digest_open_deliveries",
            "Deliveries of the open digest runs still queued or being sent, by schedule.",
            labels=["schedule", "status"],
        )
        for schedule in sorted({*digest_schedules, *(k[0] for k in snap.open_deliveries)}):
            for status in ("queued", "sending"):
                value = snap.open_deliveries.get((schedule, status), 0)
                open_runs.add_metric([schedule, status], value)
        yield open_runs
        runs = GaugeMetricFamily(
            "pressroom_digest_runs",
            "Digest runs by schedule and status (open, completed, failed).",
            labels=["schedule", "status"],
        )
        for (schedule, status), number in sorted(snap.digest_runs.items()):
            runs.add_metric([schedule, status], number)
        yield runs
        people = GaugeMetricFamily(
            "pressroom_subscribers", "Subscribers by status.", labels=["status"]
        )
        for status in SubscriberStatus:
            people.add_metric([status.value], snap.subscribers.get(status.value, 0))
        yield people
        bounces = CounterMetricFamily(
            "pressroom_bounces",
            "Bounces the bounce mailbox received, by kind (hard: 5.x.x, soft: 4.x.x).",
            labels=["kind"],
        )
        for kind in ("hard", "soft"):
            bounces.add_metric([kind], snap.bounces.get(kind, 0))
        yield bounces
        complaints = CounterMetricFamily(
            "pressroom_complaints", "Spam complaints (ARF feedback-loop reports) received."
        )
        complaints.add_metric([], snap.bounces.get("complaint", 0))
        yield complaints
        inbound = CounterMetricFamily(
            "pressroom_bounce_mailbox_messages",
            "Every message the bounce mailbox brought, by kind.",
            labels=["kind"],
        )
        for kind, number in sorted(snap.bounces.items()):
            inbound.add_metric([kind], number)
        yield inbound

    def _runs(self) -> Iterator[Metric]:
        snap = self.snap
        finished = CounterMetricFamily(
            "pressroom_job_runs",
            "Finished job runs by job and outcome (a silent running run counts abandoned).",
            labels=["pressroom_job", "outcome"],
        )
        counts = {(str(job), outcome): 0 for job in JobKind for outcome in _RUN_OUTCOMES}
        counts.update(snap.job_runs)
        for (job, outcome), number in sorted(counts.items()):
            finished.add_metric([job, outcome], number)
        yield finished
        running = GaugeMetricFamily(
            "pressroom_job_runs_running",
            "Job runs running now, by job.",
            labels=["pressroom_job"],
        )
        for job, number in sorted(snap.running.items()):
            running.add_metric([job], number)
        yield running
        duration = GaugeMetricFamily(
            "pressroom_job_last_run_duration_seconds",
            "How long the newest finished run of each job took.",
            labels=["pressroom_job"],
        )
        for job, seconds in sorted(snap.last_duration.items()):
            duration.add_metric([job], seconds)
        yield duration
        files = CounterMetricFamily(
            "pressroom_feed_files_written", "Feed files written by every feeds build."
        )
        files.add_metric([], snap.feed_files_written)
        yield files
        build = CounterMetricFamily(
            "pressroom_feed_build_seconds", "Seconds spent in feeds builds, all added up."
        )
        build.add_metric([], snap.feed_build_seconds)
        yield build
        pings = CounterMetricFamily(
            "pressroom_websub_pings",
            "Feed URLs announced to each WebSub hub after builds, by outcome (ok: the hub "
            "accepted it; failed: given up after the retries).",
            labels=["hub", "outcome"],
        )
        for hub, (ok, failed) in sorted(snap.websub_pings.items()):
            pings.add_metric([hub, "ok"], ok)
            pings.add_metric([hub, "failed"], failed)
        yield pings

    def _sources(self) -> Iterator[Metric]:
        """Each configured source's syncs: the ``sources`` job's runs, by source name."""
        syncs = CounterMetricFamily(
            "pressroom_source_syncs",
            "Finished syncs of each [sources.<name>] by outcome (the sources job's runs: "
            "a worker records a sync that changed something or failed; sources sync, all).",
            labels=["source", "outcome"],
        )
        articles = CounterMetricFamily(
            "pressroom_source_articles_changed",
            "Articles each source's syncs wrote (new, updated) or withdrawn.",
            labels=["source"],
        )
        snap = self.snap
        for source in self.sources:
            for outcome in _RUN_OUTCOMES:
                syncs.add_metric([source, outcome], snap.source_syncs.get((source, outcome), 0))
            articles.add_metric([source], snap.source_changed.get(source, 0))
        yield syncs
        yield articles

    def _schedules(self) -> Iterator[Metric]:
        snap = self.snap
        since = GaugeMetricFamily(
            "pressroom_schedule_last_success_age_seconds",
            "Seconds since each schedule's last success (digest: its last completed run;"
            " feeds: the last successful build, whatever started it).",
            labels=["schedule", "pressroom_job"],
        )
        interval = GaugeMetricFamily(
            "pressroom_schedule_interval_seconds",
            "Seconds between two fire times of each schedule (from the config).",
            labels=["schedule", "pressroom_job"],
        )
        grace = GaugeMetricFamily(
            "pressroom_schedule_misfire_grace_seconds",
            "Each schedule's misfire_grace (from the config).",
            labels=["schedule", "pressroom_job"],
        )
        first = GaugeMetricFamily(
            "pressroom_schedule_first_run_age_seconds",
            "Seconds since each schedule's first recorded run (any outcome): with no success"
            " yet, how long it has been due.",
            labels=["schedule", "pressroom_job"],
        )
        for schedule in self.schedules:
            labels = [schedule.name, str(schedule.job)]
            began = snap.first_run.get(schedule.name)
            if began is not None:
                first.add_metric(labels, max(0.0, (snap.now - began).total_seconds()))
            if kind_rules(schedule.job).sends_digest:  # its last completed digest run
                last = snap.digest_completed.get(schedule.name)
            else:  # the job's last success, whatever started it
                last = snap.job_success.get(str(schedule.job))
            if last is not None:
                since.add_metric(labels, max(0.0, (snap.now - last).total_seconds()))
            interval.add_metric(labels, schedule_interval(schedule, self.zone, snap.now))
            grace.add_metric(labels, float(schedule.misfire_grace))
        yield since
        yield first
        yield interval
        yield grace

    def _workers(self) -> Iterator[Metric]:
        age = GaugeMetricFamily(
            "pressroom_worker_heartbeat_age_seconds",
            "Seconds since each known worker's heartbeat (store clock).",
            labels=["worker", "host"],
        )
        for worker in self.snap.workers:
            age.add_metric([worker.id, worker.host], worker.age)
        yield age
        alive = GaugeMetricFamily(
            "pressroom_workers_alive",
            "Workers whose heartbeat is at most two heartbeat intervals old.",
        )
        limit = SILENT_AFTER.total_seconds()
        alive.add_metric([], sum(1 for w in self.snap.workers if w.age <= limit))
        yield alive
