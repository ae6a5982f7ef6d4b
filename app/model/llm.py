"""The model: OpenAI Chat Completions through the `openai` SDK — OpenAI, Azure OpenAI, or any
compatible server.

The SDK already does what we need for resilience — timeouts, and retries with exponential
backoff that honour `Retry-After` on 429/5xx — so we configure it rather than re-implement it.
On top of it this module adapts to the model as it is:

* `structured()` asks for JSON as Structured Outputs (the schema of the pydantic model the caller
  expects, app/model/structured.py), falls back to JSON mode and then to plain text when a server
  refuses that (a 400 naming `response_format`), validates the answer, and makes one repair
  attempt with the validation error before giving up;
* the request parameters follow the model's profile (app/model/profiles.py); a parameter the
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
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

import openai
import redis.asyncio as aioredis
from openai import AsyncAzureOpenAI, AsyncOpenAI
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from pydantic import BaseModel

from app.model.errors import ErrorKind, ModelError
from app.model.profiles import Capabilities, CapabilityMemory
from app.model.prompt import Prompt
from app.model.structured import AnswerError, OutputFormat, read_answer, repair_instruction
from app.model.structured import response_format as format_param
from app.runtime.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T", bound=BaseModel)

MAX_ADJUSTMENTS = 6  # per call: each refused parameter and each format fallback, once
_REPAIR_ECHO_CHARS = 4000  # how much of a bad answer goes back to the model with the repair


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

    async def aclose(self) -> None:
        """Close the HTTP connections of the SDK client (a process's runtime does at exit)."""
        await self._client.close()

    @property
    def sdk(self) -> AsyncOpenAI:
        """The SDK client, for the streamed calls of app/model/streaming.py."""
        return self._client

    async def whole(
        self, prompt: Prompt, output: type[BaseModel] | None, model: str, max_tokens: int
    ) -> Completion:
        """One answer in one response, in the best format the server takes, not validated
        (app/model/streaming.py's fallback when a server will not stream)."""
        completion, _ = await self._call(chat_messages(prompt), model, output, max_tokens)
        return completion

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
            completion, _ = await self._call(chat_messages(prompt), chosen, None, max_tokens)
        except ModelError as exc:
            raise self.logged(exc, chosen) from None
        except Exception as exc:
            raise self.logged(_unexpected(exc), chosen) from None
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
            raise self.logged(exc, chosen) from None
        except Exception as exc:
            raise self.logged(_unexpected(exc), chosen) from None

    async def _structured(
        self, prompt: Prompt, output: type[T], chosen: str, max_tokens: int
    ) -> Answer[T]:
        messages = chat_messages(prompt)
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
                adjusted = adjust_after_refusal(caps, exc, params)
                if adjusted is None:
                    raise status_error(exc) from None
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
                raise status_error(exc) from None
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

    def logged(self, exc: ModelError, chosen: str) -> ModelError:
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


def chat_messages(prompt: Prompt) -> list[ChatCompletionMessageParam]:
    return [
        {"role": "system", "content": prompt.system},
        {"role": "user", "content": prompt.user},
    ]


def adjust_after_refusal(
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


def status_error(exc: openai.APIStatusError) -> ModelError:
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
