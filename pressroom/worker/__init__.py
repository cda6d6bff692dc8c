"""The scheduled worker: ``pressroom run`` and ``pressroom status``."""

from __future__ import annotations

from pressroom.worker.recording import JobResult
from pressroom.worker.registry import Jobs
from pressroom.worker.scheduler import Worker, default_jobs, plan_startup, run_once, run_worker

__all__ = ["JobResult", "Jobs", "Worker", "default_jobs", "plan_startup", "run_once", "run_worker"]
