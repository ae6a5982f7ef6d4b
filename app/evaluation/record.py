"""Keeping a result: the `model_evaluated` audit event (the record), then the index the policy
gate and App Home read (app/governance/model_evidence.py). Written in that order, so no model
is ever admitted on a result the audit log does not hold."""

from __future__ import annotations

import uuid

from app.audit.event import format_at, utcnow
from app.audit.log import AuditLog
from app.evaluation.report import EvalReport
from app.governance import model_evidence
from app.governance.model_evidence import EvalRecord


async def keep(audit: AuditLog, report: EvalReport, actor: str) -> EvalRecord:
    """Record `report` as run by `actor` (the OS user, for the CLI: `os:<name>`)."""
    scores = report.scores
    event = await audit.record(
        interaction_id=f"eval_{uuid.uuid4().hex}",
        event="model_evaluated",
        actor_id=actor,
        use_case=report.use_case,
        model=report.model,
        engine=report.engine,
        prompt_version=report.prompt_version,
        latency_ms=scores.latency_p50_ms,
        reason="passed" if report.passed else "failed: " + "; ".join(report.shortfalls),
        # tokens stay out of the top-level fields: an eval is not a person's usage
        extra={
            "endpoint": report.endpoint,
            "eval_set_version": report.eval_set_version,
            "scores": scores.model_dump(mode="json"),
            "thresholds": report.thresholds.model_dump(mode="json"),
            "passed": report.passed,
            "failed_cases": [c.case_id for c in report.cases if not c.passed],
        },
    )
    record = EvalRecord(
        at=event.at or format_at(utcnow()),
        model=report.model,
        engine=report.engine,
        endpoint=report.endpoint,
        use_case=report.use_case,
        prompt_version=report.prompt_version,
        eval_set_version=report.eval_set_version,
        actor=actor,
        scores=scores,
        audit_id=event.id,
    )
    await model_evidence.save(audit.redis, record)
    return record
