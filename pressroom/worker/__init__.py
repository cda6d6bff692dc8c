"""The scheduled worker: ``pressroom run`` and ``pressroom status``."""

from __future__ import annotations

from pressroom.worker.jobs import JobResult, Jobs, default_jobs
from pressroom.worker.scheduler import Worker, plan_startup, run_once, run_worker

__all__ = ["JobResult", "Jobs", "Worker", "default_jobs", "plan_startup", "run_once", "run_worker"]
