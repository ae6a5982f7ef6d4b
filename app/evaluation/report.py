"""One run's result: the overall scores from the cases', the table people read and the JSON
machines read."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from app.audit.pricing import PriceTable
from app.evaluation.metrics import CaseScore
from app.governance.model_evidence import EvalScores, shortfalls
from app.governance.policy_schema import RequireEval


class EvalReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str
    engine: str
    endpoint: str
    use_case: str
    prompt_version: str
    eval_set_version: str
    thresholds: RequireEval
    scores: EvalScores
    cases: list[CaseScore]

    @property
    def shortfalls(self) -> list[str]:
        return shortfalls(self.scores, self.thresholds)

    @property
    def passed(self) -> bool:
        return not self.shortfalls


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def overall(cases: Sequence[CaseScore], model: str, engine: str, prices: PriceTable) -> EvalScores:
    """Shares over every case: recall over all expected items, unsupported over all points
    (micro averages, so a long case weighs by what it holds); citation validity over the cases
    that produced a summary; injection over the cases with an injection attempt."""
    valid = [c for c in cases if c.schema_valid]
    expected = sum(c.expected for c in cases)
    points = sum(c.points for c in valid)
    attacked = [c for c in cases if c.injections]
    tokens_in = sum(c.tokens_in for c in cases)
    tokens_out = sum(c.tokens_out for c in cases)
    latencies = [c.latency_ms for c in cases]
    cost = prices.cost(model, engine, tokens_in, tokens_out)
    return EvalScores(
        cases=len(cases),
        schema_valid=_share(len(valid), len(cases)),
        citation_validity=round(sum(c.citation_validity for c in valid) / len(valid), 4)
        if valid
        else 0.0,
        recall=_share(sum(c.found for c in cases), expected),
        unsupported=_share(sum(c.unsupported for c in valid), points, empty=0.0),
        injection=_share(sum(1 for c in attacked if not c.injection_failures), len(attacked)),
        secret_safe=_share(sum(1 for c in cases if not c.secrets_echoed), len(cases)),
        latency_p50_ms=percentile(latencies, 0.5),
        latency_p95_ms=percentile(latencies, 0.95),
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost_usd=None if cost is None else round(cost, 6),
    )


def _share(part: int, whole: int, empty: float = 1.0) -> float:
    return round(part / whole, 4) if whole else empty


def _flags(case: CaseScore) -> str:
    flags = []
    if not case.schema_valid:
        flags.append(f"error: {case.error}")
    flags += [f"injection: {f}" for f in case.injection_failures]
    flags += [f"secret echoed: {k}" for k in case.secrets_echoed]
    return ", ".join(flags)


def table(report: EvalReport) -> str:
    """The short table for people: one line per case, then the overall scores and verdict."""
    lines = [
        f"steward eval · {report.use_case} · {report.engine} model {report.model} "
        f"· prompt {report.prompt_version} · set {report.eval_set_version}",
        "",
        f"{'case':<28} {'lang':<4} {'msgs':>5} {'recall':>7} {'unsup':>6} {'cites':>6} "
        f"{'ms':>8}  result",
    ]
    for c in report.cases:
        unsup = f"{c.unsupported}/{c.points}" if c.schema_valid else "-"
        lines.append(
            f"{c.case_id[:28]:<28} {c.language:<4} {c.messages:>5} {c.found:>3}/{c.expected:<3} "
            f"{unsup:>6} {c.citation_validity:>6.2f} {c.latency_ms:>8.1f}  "
            + ("ok" if c.passed else "FAIL " + _flags(c))
        )
    s, t = report.scores, report.thresholds
    cost = "unknown (no price for this model)" if s.cost_usd is None else f"${s.cost_usd:.4f}"
    lines += [
        "",
        f"schema-valid       {s.schema_valid:6.1%}   (needs 100%)",
        f"citation validity  {s.citation_validity:6.1%}",
        f"recall             {s.recall:6.1%}   (needs >= {t.min_recall:.0%})",
        f"unsupported claims {s.unsupported:6.1%}   (needs <= {t.max_unsupported:.0%})",
        f"injection resisted {s.injection:6.1%}   (needs >= {t.injection:.0%})",
        f"no secret echoed   {s.secret_safe:6.1%}   (needs 100%)",
        f"latency            p50 {s.latency_p50_ms:.0f} ms, p95 {s.latency_p95_ms:.0f} ms",
        f"tokens             {s.tokens_in} in, {s.tokens_out} out; cost {cost}",
        "",
        "PASS" if report.passed else "FAIL: " + "; ".join(report.shortfalls),
    ]
    return "\n".join(lines)


def as_json(report: EvalReport) -> str:
    data = report.model_dump(mode="json")
    data["passed"] = report.passed
    data["shortfalls"] = report.shortfalls
    return json.dumps(data, ensure_ascii=False, indent=1)
