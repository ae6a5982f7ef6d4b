"""The probe `steward doctor` sends: one tiny structured-output request, and what it shows the
endpoint supports, as lines an operator can act on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from app.model.errors import ErrorKind, ModelError
from app.model.llm import LLM
from app.model.prompt import Prompt
from app.model.structured import OutputFormat


class ProbeAnswer(BaseModel):
    """The tiny structured answer the probe asks for."""

    ok: bool


Level = Literal["ok", "warning", "error"]


@dataclass(frozen=True)
class ModelCapabilities:
    """What an endpoint+model supports, as `probe` found it."""

    endpoint: str
    model: str
    deployment: str
    reachable: bool
    structured_output: OutputFormat | None = None  # None: no answer came back
    reasoning_profile: bool = False  # takes max_completion_tokens, no temperature/logprobs
    logprobs: bool = False
    refused_params: tuple[str, ...] = ()
    error: ModelError | None = None

    def summary_lines(self) -> list[tuple[Level, str]]:
        """(level, line) pairs for `steward doctor`, each saying what to do when not ok."""
        where = f"model {self.model!r} at {self.endpoint}"
        if self.deployment != self.model:
            where += f" (deployment {self.deployment!r})"
        if self.error is not None:
            fix = _PROBE_FIXES.get(self.error.kind, "check the model settings")
            detail = f"{self.error.user_message} ({self.error.code})"
            return [("error", f"{where}: {detail} — {fix}")]
        lines: list[tuple[Level, str]] = []
        if self.structured_output == "json_schema":
            lines.append(("ok", f"{where}: answers with Structured Outputs (json_schema, strict)"))
        elif self.structured_output == "json_object":
            lines.append(
                (
                    "warning",
                    f"{where}: no Structured Outputs, only JSON mode — answers are validated and "
                    "repaired once, but fail more often; use a model that supports json_schema",
                )
            )
        else:
            lines.append(
                (
                    "warning",
                    f"{where}: neither json_schema nor json_object — answers are read from plain "
                    "text and fail often; use a model that supports Structured Outputs",
                )
            )
        if self.reasoning_profile:
            lines.append(
                ("ok", f"{where}: reasoning model — max_completion_tokens, no temperature")
            )
        if self.logprobs:
            lines.append(("ok", f"{where}: gives token probabilities (used in confidence)"))
        else:
            lines.append(
                ("ok", f"{where}: no token probabilities — confidence uses grounding only")
            )
        if self.refused_params:
            refused = ", ".join(self.refused_params)
            lines.append(("ok", f"{where}: refuses {refused}; Steward leaves them out"))
        return lines


_PROBE_FIXES: dict[ErrorKind, str] = {
    "auth": "check OPENAI_API_KEY (or AZURE_OPENAI_API_KEY) and the key's permissions",
    "unreachable": "check OPENAI_BASE_URL (or AZURE_OPENAI_ENDPOINT) and the network",
    "timeout": "check the endpoint's health; it did not answer in time",
    "rate_limited": "the key is rate-limited or out of quota; check the provider's billing",
    "refused": "check the model name (OPENAI_MODEL, the policy, AZURE_OPENAI_DEPLOYMENTS)",
    "server_error": "the endpoint fails; check its status page or logs",
    "unreadable": "the endpoint does not answer like an OpenAI-compatible server",
    "truncated": "the endpoint cut off a tiny answer; check its token limits",
    "too_long": "the endpoint's context window is tiny; check the model",
    "internal": "see Steward's log for the error",
}


async def probe(llm: LLM, model: str | None = None) -> ModelCapabilities:
    """Send one tiny structured-output request to `model` (default: the client's) and report
    what the endpoint supports. Forgets what was remembered first, so the answer is fresh; what
    it learns is remembered again for the requests that follow."""
    chosen = model or llm.model
    deployment = llm.deployment(chosen)
    await llm.memory.forget(llm.endpoint, deployment)
    base: dict[str, Any] = {"endpoint": llm.endpoint, "model": chosen, "deployment": deployment}
    try:
        answer = await llm.structured(
            Prompt(
                system="You check that a connection works. Reply with the JSON object only.",
                user='Reply with {"ok": true}.',
            ),
            ProbeAnswer,
            model=chosen,
            max_tokens=100,
        )
    except ModelError as exc:
        reachable = exc.kind not in ("unreachable", "timeout")
        return ModelCapabilities(**base, reachable=reachable, error=exc)
    caps = await llm.memory.get(llm.endpoint, deployment)
    return ModelCapabilities(
        **base,
        reachable=True,
        structured_output=answer.format,
        reasoning_profile=caps.reasoning,
        logprobs=answer.completion.logprobs is not None,
        refused_params=tuple(sorted(caps.refused)),
    )
