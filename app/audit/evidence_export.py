"""**Export evidence** in Why?: an admin gets the interaction's evidence package in their DM.

The button is shown to admins only, but a click can be forged, so the job checks the role again
on the server (`require_role`, which records a `refused` event for anyone else). The package is
the one `steward audit evidence` writes (`app.audit.evidence_build`), checkable offline with
`steward audit check-evidence`.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from pydantic import BaseModel

from app.audit import evidence
from app.audit.checkpoints import Checkpointer, CheckpointRefused
from app.audit.evidence_build import NoEvidence, evidence_package
from app.audit.trace_view import EVIDENCE_ACTION
from app.governance.admins import require_role
from app.runtime.services import Services
from app.slack.port import SlackError
from app.slack.reply import ReplyTo

log = logging.getLogger(__name__)

ACTION = EVIDENCE_ACTION


class EvidenceExportRequest(BaseModel):
    interaction_id: str
    user_id: str
    team_id: str
    channel_id: str | None = None
    response_url: str | None = None


async def run_evidence_export(services: Services, req: EvidenceExportRequest) -> None:
    reply_to = ReplyTo.of(req)
    if not await require_role(
        services,
        reply_to,
        req.team_id,
        "why: export evidence",
        "export audit evidence",
        action="audit.export",
    ):
        return
    signer = Checkpointer(
        services.redis,
        services.settings,
        policy=lambda: services.policy,
        slack=services.slack,
        keys=services.audit.keys,
    )
    try:
        text = await evidence_package(services.audit, signer, req.interaction_id)
    except (NoEvidence, CheckpointRefused, evidence.EvidenceError) as exc:
        log.warning("no evidence package", extra={"problem": type(exc).__name__})
        await services.slack.tell(reply_to, f":warning: No evidence package: {exc}")
        return
    name = f"evidence-{req.interaction_id[:40]}.json"
    with tempfile.TemporaryDirectory(prefix="steward-evidence-") as tmp:
        path = Path(tmp) / name
        path.write_text(text, encoding="utf-8")
        comment = (
            f"Evidence package for interaction `{req.interaction_id}`: check it anywhere with "
            f"`steward audit check-evidence {name} --public-key <the log's public key>`."
        )
        try:
            dm = await services.slack.open_dm(req.user_id)
            await services.slack.upload_files(dm, [path], initial_comment=comment)
        except SlackError as exc:
            log.warning("evidence upload failed", extra={"code": exc.code})
            await services.slack.tell(
                reply_to, f":warning: Slack refused the upload (`{exc.code}`)."
            )
            return
    log.info("evidence exported", extra={"user_id": req.user_id})
