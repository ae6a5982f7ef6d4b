"""App Home, for admins and auditors: each allowed model's last `steward eval` — when, the
scores, and whether it passes what the policy requires (or the defaults, if it requires none)."""

from __future__ import annotations

from slack_sdk.models.blocks import Block

from app.governance.model_evidence import (
    DEFAULT_REQUIREMENT,
    EvalRecord,
    gated_models,
    latest,
    shortfalls,
)
from app.runtime.services import Services
from app.slack import blocks as bk
from app.slack.mrkdwn import escape

MAX_MODELS = 10
BLOCKS = 3  # divider, header, one section


def _line(model: str, record: EvalRecord | None, services: Services) -> str:
    name = f"*{escape(model)}*"
    if record is None:
        return f"{name} · no eval yet: run `steward eval --model {escape(model)}`"
    require = services.policy.defaults.require_eval or DEFAULT_REQUIREMENT
    missing = shortfalls(record.scores, require)
    s = record.scores
    verdict = "passed" if not missing else "failed (" + escape("; ".join(missing)) + ")"
    stale = record.prompt_version != services.prompt_version
    return (
        f"{name} · {verdict} · {record.at[:10]} · recall {s.recall:.0%} · unsupported "
        f"{s.unsupported:.0%} · injection {s.injection:.0%} · {s.cases} cases"
        + (" · for an older prompt version: run it again" if stale else "")
    )


async def eval_blocks(services: Services) -> list[Block]:
    models = gated_models(services.policy)[:MAX_MODELS]
    lines = [_line(m, await latest(services.redis, m), services) for m in models]
    return [bk.divider(), bk.header("Admin · model evals"), bk.section("\n".join(lines))]
