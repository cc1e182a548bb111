"""Outbox jobs set aside after failing too often (dead letters): what the finance department sees and retries."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import ChainJob, JobStatus, audit
from app.runtime import runtime
from app.services.errors import Conflict, not_found


def dead_jobs(limit: int = 100) -> list[ChainJob]:
    """The dead letters, newest first."""
    return list(
        db.session.scalars(
            select(ChainJob).where(ChainJob.status == JobStatus.DEAD).order_by(ChainJob.id.desc()).limit(limit)
        )
    )


def dead_job_count() -> int:
    return int(db.session.scalar(select(func.count(ChainJob.id)).where(ChainJob.status == JobStatus.DEAD)) or 0)


def retry_dead_job(job_id: int, actor: str) -> ChainJob:
    """Give a dead job another round: back to the queue if it was never signed, else back to confirmation."""
    job = db.session.get(ChainJob, job_id)
    if job is None:
        raise not_found("job")
    if job.status != JobStatus.DEAD:
        raise Conflict("job_not_dead", f"Job {job.id} is {job.status}; only dead jobs are retried.")
    # A dead job holds no unmined nonce (see app.outbox.worker): unsigned → queued, mined → re-read its receipt.
    job.status = JobStatus.SIGNED if job.tx_hash else JobStatus.QUEUED
    job.failures = 0
    job.retry_at = None
    audit(actor, "job.retried", str(job.id), job.organisation_id, function=job.function, last_error=job.last_error)
    db.session.commit()
    runtime().wake_worker()
    return job
