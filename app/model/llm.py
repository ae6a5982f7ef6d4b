"""The model: OpenAI Chat Completions through the `openai` SDK — OpenAI, Azure OpenAI, or any
compatible server.

The SDK already does what we need for resilience — timeouts, and retries with exponential
backoff that honour `Retry-After` on 429/5xx — so we configure it rather than re-implement it.
On top of it this module adapts to the model as it is:

* `structured()` asks for JSON as Structured Outputs (the schema of the pydantic model the caller
  expects, app/structured.py), falls back to JSON mode and then to plain text when a server
  refuses that (a 400 naming `response_format`), validates the answer, and makes one repair
  attempt with the validation error before giving up;
* the request parameters follow the model's profile (app/model_profiles.py); a parameter the
  server refuses with 400 `unsupported_parameter`/`unsupported_value` is dropped and the request
  sent again, once per parameter;
* what each endpoint+model accepted is remembered (Redis, a TTL) so the discovery is paid once.

Every failure that reaches the caller is a `ModelError` — nothing else escapes `complete` or
`structured`, so a bad answer never re-runs a job — with a `kind` the person is told and a
structured log line (status, error type and code, request id; never the prompt or the key).
`probe()` is the one tiny request `steward doctor` sends to report what an endpoint supports.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, Literal, TypeVar

import openai
import redis.asyncio as aioredis
from openai import AsyncAzureOpenAI, AsyncOpenAI
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from pydantic import BaseModel

from app.model.profiles import Capabilities, CapabilityMemory
from app.model.prompt import Prompt
from app.model.structured import AnswerError, OutputFormat, read_answer, repair_instruction
from app.model.structured import response_format as format_param
from app.runtime.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

ErrorKind = Literal[
    "rate_limited",  # 429
    "refused",  # the model server would not take the request (4xx), or the model declined
    "too_long",  # the prompt is past the model's context window
    "unreadable",  # an answer came, but not one we can use (HTML, garbage, invalid JSON)
    "truncated",  # the answer was cut off at the token limit
    "timeout",
    "unreachable",
    "auth",  # 401/403: the key or the deployment's permissions
    "server_error",  # 5xx after the SDK's retries
    "internal",  # anything else on the model path
]

# What the person is told for each kind (app/summarize.py and app/draft.py add what happens next).
USER_MESSAGES: dict[ErrorKind, str] = {
    "rate_limited": "The AI model is rate-limited right now.",
    "refused": "The AI model refused the request.",
    "too_long": "The conversation is too long for the AI model's context window.",
    "unreadable": "The AI model's answer could not be read.",
    "truncated": "The AI model's answer was cut off before it was complete.",
    "timeout": "The AI model took too long to answer.",
    "unreachable": "The AI model could not be reached.",
    "auth": "The AI model rejected Steward's credentials.",
    "server_error": "The AI model returned an error.",
    "internal": "Something went wrong while talking to the AI model.",
}

# What the person can do about it, by kind: waiting helps some failures, only an admin others.
NEXT_STEPS: dict[ErrorKind, str] = {
    "rate_limited": "Please try again in a minute.",
    "refused": "Please tell a Steward admin: the model or its settings need a change.",
    "too_long": "Try a shorter time window or a single thread.",
    "unreadable": "Please try again; if it keeps happening, tell a Steward admin.",
    "truncated": "Please try again; if it keeps happening, tell a Steward admin.",
    "timeout": "Please try again in a few minutes.",
    "unreachable": "Please try again in a few minutes.",
    "auth": "Please tell a Steward admin: the model's credentials need fixing.",
    "server_error": "Please try again in a few minutes.",
    "internal": "Please try again; if it keeps happening, tell a Steward admin.",
}

MAX_ADJUSTMENTS = 6  # per call: each refused parameter and each format fallback, once
_REPAIR_ECHO_CHARS = 4000  # how much of a bad answer goes back to the model with the repair


class ModelError(Exception):
    """The model could not answer. `user_message` is what the person is shown, `code` what the
    audit trail records (`model: <code>`), `kind` the category; the rest is for the log."""

    def __init__(
        self,
        user_message: str,
        code: str,
        *,
        kind: ErrorKind = "internal",
        status: int | None = None,
        error_type: str | None = None,
        error_code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {user_message}")
        self.user_message = user_message
        self.code = code
        self.kind = kind
        self.status = status
        self.error_type = error_type
        self.error_code = error_code
        self.request_id = request_id

    @property
    def next_step(self) -> str:
        return NEXT_STEPS[self.kind]

    @classmethod
    def of(cls, kind: ErrorKind, code: str, **detail: Any) -> ModelError:
        return cls(USER_MESSAGES[kind], code, kind=kind, **detail)


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    tokens_in: int
    tokens_out: int
    latency_ms: float
    logprobs: list[float] | None = field(default=None)
    finish_reason: str | None = None
    request_id: str | None = None
    # Why there are no logprobs, when the profile could not ask for them.
    logprobs_note: str | None = None
    calls: int = 1  # HTTP requests it took (refusals, fallbacks and repairs included)

    @property
    def mean_token_probability(self) -> float | None:
        if not self.logprobs:
            return None
        return sum(math.exp(lp) for lp in self.logprobs) / len(self.logprobs)


@dataclass(frozen=True)
class Answer(Generic[T]):
    """A validated structured answer, the completion it came in, and how it was obtained."""

    value: T
    completion: Completion
    format: OutputFormat
    repaired: bool = False


@dataclass(frozen=True)
class AzureConfig:
    """Azure OpenAI: the resource endpoint, the API version, and policy model -> deployment."""

    endpoint: str
    api_version: str
    deployments: Mapping[str, str] = field(default_factory=dict)


class LLM:
    def __init__(
        self,
        api_key: str,
        model: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        *,
        redis: aioredis.Redis | None = None,
        azure: AzureConfig | None = None,
    ) -> None:
        self.model = model
        self.azure = azure
        self._client: AsyncOpenAI
        if azure is not None:
            # Azure OpenAI: the SDK builds /openai/deployments/{model}/chat/completions
            # ?api-version=… from the model argument and sends the key as `api-key`.
            self._client = AsyncAzureOpenAI(
                azure_endpoint=azure.endpoint,
                api_key=api_key,
                api_version=azure.api_version,
                timeout=timeout,
                max_retries=max_retries,
            )
            self.endpoint = f"azure:{azure.endpoint.rstrip('/')}"
        else:
            self._client = AsyncOpenAI(
                api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
            )
            self.endpoint = str(self._client.base_url).rstrip("/")
        self.memory = CapabilityMemory(redis)

    def deployment(self, model: str) -> str:
        """What goes in the request's `model`: an Azure deployment name, or the model itself."""
        if self.azure is None:
            return model
        return self.azure.deployments.get(model, model)

    async def capabilities(self, model: str | None = None) -> Capabilities:
        chosen = model or self.model
        return await self.memory.get(self.endpoint, self.deployment(chosen))

    # ---- the two calls ----------------------------------------------------------------------

    async def complete(
        self, prompt: Prompt, *, model: str | None = None, max_tokens: int = 1200
    ) -> Completion:
        """One chat completion answered in free text. The model gets no tools."""
        chosen = model or self.model
        try:
            completion, _ = await self._call(_messages(prompt), chosen, None, max_tokens)
        except ModelError as exc:
            raise self._logged(exc, chosen) from None
        except Exception as exc:
            raise self._logged(_unexpected(exc), chosen) from None
        return completion

    async def structured(
        self,
        prompt: Prompt,
        output: type[T],
        *,
        model: str | None = None,
        max_tokens: int = 1200,
    ) -> Answer[T]:
        """One chat completion whose answer must be a valid `output`; see the module doc."""
        chosen = model or self.model
        try:
            return await self._structured(prompt, output, chosen, max_tokens)
        except ModelError as exc:
            raise self._logged(exc, chosen) from None
        except Exception as exc:
            raise self._logged(_unexpected(exc), chosen) from None

    async def _structured(
        self, prompt: Prompt, output: type[T], chosen: str, max_tokens: int
    ) -> Answer[T]:
        messages = _messages(prompt)
        first, caps = await self._call(messages, chosen, output, max_tokens)
        try:
            return Answer(read_answer(first.text, output), first, caps.format)
        except AnswerError as exc:
            if first.finish_reason == "length":
                raise ModelError.of("truncated", "truncated", request_id=first.request_id) from None
            problem = exc.detail
        log.info(
            "model answer invalid; asking once for a repair",
            extra={"model": chosen, "format": caps.format, "problem": problem},
        )
        repair: list[ChatCompletionMessageParam] = [
            *messages,
            {"role": "assistant", "content": first.text[:_REPAIR_ECHO_CHARS]},
            {"role": "user", "content": repair_instruction(output, problem)},
        ]
        second, caps = await self._call(repair, chosen, output, max_tokens)
        both = _combined(first, second)
        try:
            return Answer(read_answer(second.text, output), both, caps.format, repaired=True)
        except AnswerError as exc:
            kind: ErrorKind = "truncated" if second.finish_reason == "length" else "unreadable"
            log.info("model answer invalid after the repair", extra={"problem": exc.detail})
            code = "truncated" if kind == "truncated" else "bad_output"
            raise ModelError.of(kind, code, request_id=second.request_id) from None

    # ---- one request, adapted to what the server takes ---------------------------------------

    async def _call(
        self,
        messages: list[ChatCompletionMessageParam],
        chosen: str,
        output: type[BaseModel] | None,
        max_tokens: int,
    ) -> tuple[Completion, Capabilities]:
        deployment = self.deployment(chosen)
        caps = await self.memory.get(self.endpoint, deployment)
        learnt = not caps.known
        started = time.perf_counter()
        calls = 0
        for _ in range(MAX_ADJUSTMENTS + 1):
            params = caps.params(max_tokens)
            if output is not None and caps.format != "text":
                params["response_format"] = format_param(caps.format, output)
            calls += 1
            try:
                response = await self._client.chat.completions.create(
                    model=deployment, messages=messages, **params
                )
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                adjusted = _adjust(caps, exc, params)
                if adjusted is None:
                    raise _status_error(exc) from None
                log.info(
                    "model server refused part of the request; sending it again without",
                    extra={
                        "model": chosen,
                        "endpoint": self.endpoint,
                        "param": exc.param,
                        "error_code": exc.code,
                        "request_id": exc.request_id,
                        "format": adjusted.format,
                        "reasoning": adjusted.reasoning,
                    },
                )
                caps, learnt = adjusted, True
                continue
            except openai.APIStatusError as exc:
                raise _status_error(exc) from None
            except openai.APITimeoutError:
                raise ModelError.of("timeout", "timeout") from None
            except openai.APIConnectionError:
                raise ModelError.of("unreachable", "unreachable") from None
            if learnt:
                caps = replace(caps, known=True)
                await self.memory.put(self.endpoint, deployment, caps)
            # Azure answers with the base model's name; the policy's name is what governs.
            reported = chosen if self.azure is not None else None
            completion = _completion(response, reported or chosen, caps, started, calls)
            if reported is not None:
                completion = replace(completion, model=reported)
            return completion, caps
        raise ModelError.of("refused", "too_many_refusals")

    def _logged(self, exc: ModelError, chosen: str) -> ModelError:
        log.warning(
            "model call failed",
            extra={
                "model": chosen,
                "endpoint": self.endpoint,
                "kind": exc.kind,
                "code": exc.code,
                "status": exc.status,
                "error_type": exc.error_type,
                "error_code": exc.error_code,
                "request_id": exc.request_id,
            },
        )
        return exc


def build_llm(settings: Settings, redis: aioredis.Redis | None = None) -> LLM | None:
    """The model client the settings describe, or None for the offline engine: Azure OpenAI
    when AZURE_OPENAI_ENDPOINT (or its key) is set, else OpenAI or the server at
    OPENAI_BASE_URL. `redis` holds what each endpoint+model accepts, shared by every process;
    without it (`steward doctor`) that is remembered in this process only."""
    if settings.engine == "offline":
        return None
    if settings.azure_openai_endpoint or settings.azure_openai_api_key:
        settings.require("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY")
        assert settings.azure_openai_endpoint is not None
        azure = AzureConfig(
            endpoint=settings.azure_openai_endpoint,
            api_version=settings.openai_api_version,
            deployments=settings.deployments,
        )
        key = settings.secret("AZURE_OPENAI_API_KEY")
        return LLM(api_key=key, model=settings.openai_model, redis=redis, azure=azure)
    settings.require("OPENAI_API_KEY")
    return LLM(
        api_key=settings.secret("OPENAI_API_KEY"),
        model=settings.openai_model,
        base_url=settings.openai_base_url,
        redis=redis,
    )


def _messages(prompt: Prompt) -> list[ChatCompletionMessageParam]:
    return [
        {"role": "system", "content": prompt.system},
        {"role": "user", "content": prompt.user},
    ]


def _adjust(
    caps: Capabilities, exc: openai.APIStatusError, sent: dict[str, Any]
) -> Capabilities | None:
    """What to change after a 400/422, or None when the refusal is about something else."""
    param = str(exc.param or "")
    code = str(exc.code or "")
    message = exc.message.lower()
    if code in ("unsupported_parameter", "unsupported_value") and param in sent:
        return caps.without(param)
    if "response_format" in sent and (
        param.startswith("response_format")
        or "response_format" in message
        or "json_schema" in message
    ):
        return caps.next_format()
    return None


def _status_error(exc: openai.APIStatusError) -> ModelError:
    status = exc.status_code
    detail: dict[str, Any] = {
        "status": status,
        "error_type": getattr(exc, "type", None),
        "error_code": None if exc.code is None else str(exc.code),
        "request_id": exc.request_id,
    }
    if status == 429:
        return ModelError.of("rate_limited", "rate_limited", **detail)
    if status in (401, 403):
        return ModelError.of("auth", "auth", **detail)
    if detail["error_code"] == "context_length_exceeded":
        return ModelError.of("too_long", "context_length_exceeded", **detail)
    if status >= 500:
        return ModelError.of("server_error", f"http_{status}", **detail)
    suffix = f":{detail['error_code']}" if detail["error_code"] else ""
    return ModelError.of("refused", f"http_{status}{suffix}", **detail)


def _unexpected(exc: Exception) -> ModelError:
    log.exception("unexpected error on the model path")
    return ModelError.of("internal", f"internal:{type(exc).__name__}")


def _completion(
    response: object, chosen: str, caps: Capabilities, started: float, calls: int
) -> Completion:
    """Read a response, or ModelError: an HTML page or other non-JSON body, no choices, a
    refusal."""
    if not isinstance(response, ChatCompletion):
        # The SDK hands back the body as text when it is not JSON (a proxy's error page).
        return_type = type(response).__name__
        raise ModelError.of("unreadable", "not_json", error_type=return_type)
    request_id = getattr(response, "_request_id", None)
    if not response.choices:
        raise ModelError.of("unreadable", "empty", request_id=request_id)
    choice = response.choices[0]
    if choice.finish_reason == "content_filter" or choice.message.refusal:
        raise ModelError.of("refused", "model_refusal", request_id=request_id)
    usage = response.usage
    logprobs = None
    if choice.logprobs is not None and choice.logprobs.content:
        logprobs = [token.logprob for token in choice.logprobs.content]
    note = caps.logprobs_note
    if logprobs is None and note is None:
        note = "the model server gave no token probabilities"
    return Completion(
        text=choice.message.content or "",
        model=response.model or chosen,
        tokens_in=usage.prompt_tokens if usage else 0,
        tokens_out=usage.completion_tokens if usage else 0,
        latency_ms=(time.perf_counter() - started) * 1000,
        logprobs=logprobs,
        finish_reason=choice.finish_reason,
        request_id=request_id,
        logprobs_note=None if logprobs else note,
        calls=calls,
    )


def _combined(first: Completion, second: Completion) -> Completion:
    """The repaired answer, carrying the usage and time of both attempts."""
    return replace(
        second,
        tokens_in=first.tokens_in + second.tokens_in,
        tokens_out=first.tokens_out + second.tokens_out,
        latency_ms=first.latency_ms + second.latency_ms,
        calls=first.calls + second.calls,
    )


# ---- the probe `steward doctor` sends ----------------------------------------------------------


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
