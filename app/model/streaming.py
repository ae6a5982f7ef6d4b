"""A streamed chat completion: text deltas as the model writes them, then what the call cost.

`ModelStream` is an async iterator of text deltas (`choices[0].delta.content`, OpenAI's
`chat.completion.chunk` objects, read through the `openai` SDK). It asks for
`stream_options: {"include_usage": true}` so the last chunk carries the usage; when a server
never sends it (the SDK's docstring: "If the stream is interrupted, you may not receive the
final usage chunk") the tokens are counted locally instead.

Adapting to the server, as `LLM.structured` does (app/model/llm.py), and remembered the same way
(app/model/profiles.py's `refused` set):

* a 400 naming any parameter of the profile is handled by the same rules as a whole answer;
* a 400 naming `stream` (OpenAI refuses to stream o3 / gpt-5 class models to an unverified
  organisation, `unsupported_value`) gets one whole answer instead, yielded as one delta;
* a 400 naming `stream_options` (servers that do not know it) sends the request again without.

Failures are `ModelError`s. One that happens after deltas were yielded — the connection drops
(`interrupted`), an `error` event arrives mid-stream (`interrupted`), the overall `timeout`
passes (`timeout`), the answer stops at the token limit (`truncated`) — is raised AFTER those
deltas, so the caller can end what it showed with a clear line; `partial` holds what arrived.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import openai
from openai.types.chat import ChatCompletionChunk
from pydantic import BaseModel

from app.model.errors import ModelError
from app.model.llm import LLM, MAX_ADJUSTMENTS, adjust_after_refusal, chat_messages, status_error
from app.model.profiles import Capabilities
from app.model.prompt import Prompt
from app.model.structured import OutputFormat
from app.model.structured import response_format as format_param
from app.model.tokens import count_tokens

log = logging.getLogger(__name__)

STREAM = "stream"  # in `Capabilities.refused`: this endpoint+model will not stream
STREAM_OPTIONS = "stream_options"


@dataclass(frozen=True)
class StreamedCompletion:
    """What a finished stream gave: the whole text and what it cost."""

    text: str
    model: str
    tokens_in: int
    tokens_out: int
    latency_ms: float
    first_delta_ms: float | None  # time to the first non-empty delta
    finish_reason: str | None
    format: OutputFormat
    request_id: str | None = None
    logprobs: list[float] | None = None
    logprobs_note: str | None = None
    streamed: bool = True  # False: the server would not stream; the answer came whole
    usage_reported: bool = True  # False: tokens counted locally (no usage chunk)
    calls: int = 1


class ModelStream:
    """`async for delta in ModelStream(llm, prompt): …`, then `.completion`."""

    def __init__(
        self,
        llm: LLM,
        prompt: Prompt,
        *,
        model: str | None = None,
        max_tokens: int = 1200,
        output: type[BaseModel] | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.llm = llm
        self.prompt = prompt
        self.model = model or llm.model
        self.max_tokens = max_tokens
        self.output = output
        self.timeout = timeout
        self.partial = ""  # every delta yielded so far
        self.completion: StreamedCompletion | None = None
        self._started = 0.0
        self._first: float | None = None

    def __aiter__(self) -> AsyncIterator[str]:
        return self._deltas()

    async def _deltas(self) -> AsyncIterator[str]:
        self._started = time.perf_counter()
        deadline = asyncio.get_running_loop().time() + self.timeout
        try:
            async for delta in self._run(deadline):
                if delta:
                    self._first = self._first or time.perf_counter()
                    self.partial += delta
                    yield delta
        except ModelError as exc:
            raise self.llm.logged(exc, self.model) from None
        except (TimeoutError, openai.APITimeoutError):
            raise self.llm.logged(ModelError.of("timeout", "timeout"), self.model) from None

    async def _run(self, deadline: float) -> AsyncIterator[str]:
        deployment = self.llm.deployment(self.model)
        memory, endpoint = self.llm.memory, self.llm.endpoint
        caps = await memory.get(endpoint, deployment)
        learnt = not caps.known
        for calls in range(1, MAX_ADJUSTMENTS + 2):
            if STREAM in caps.refused:
                if learnt:  # the whole answer's own call remembers the format it settles on
                    await memory.put(endpoint, deployment, replace(caps, known=True))
                yield await self._whole(caps, calls, deadline)
                return
            params = self._params(caps)
            try:
                async with asyncio.timeout_at(deadline):
                    stream = await self.llm.sdk.chat.completions.create(
                        model=deployment,
                        messages=chat_messages(self.prompt),
                        stream=True,
                        **params,
                    )
            except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                adjusted = _streaming_adjustment(caps, exc, params)
                if adjusted is None:
                    raise status_error(exc) from None
                log.info(
                    "model server refused part of a streamed request; sending it again without",
                    extra={"model": self.model, "param": exc.param, "error_code": exc.code},
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
                await memory.put(endpoint, deployment, caps)
            async for delta in self._read(stream, caps, calls, deadline):
                yield delta
            return
        raise ModelError.of("refused", "too_many_refusals")

    def _params(self, caps: Capabilities) -> dict[str, Any]:
        params = caps.params(self.max_tokens)
        if STREAM_OPTIONS not in caps.refused:
            params["stream_options"] = {"include_usage": True}
        if self.output is not None and caps.format != "text":
            params["response_format"] = format_param(caps.format, self.output)
        return params

    async def _read(
        self,
        stream: openai.AsyncStream[ChatCompletionChunk],
        caps: Capabilities,
        calls: int,
        deadline: float,
    ) -> AsyncIterator[str]:
        text: list[str] = []
        logprobs: list[float] = []
        finish: str | None = None
        usage: Any = None
        model = self.model
        request_id = getattr(stream.response, "headers", {}).get("x-request-id")
        try:
            while True:
                try:
                    async with asyncio.timeout_at(deadline):
                        chunk = await stream.__anext__()
                except StopAsyncIteration:
                    break
                usage = chunk.usage or usage
                model = chunk.model or model
                for choice in chunk.choices[:1]:
                    if choice.logprobs is not None and choice.logprobs.content:
                        logprobs += [t.logprob for t in choice.logprobs.content]
                    finish = choice.finish_reason or finish
                    if choice.delta.content:
                        text.append(choice.delta.content)
                        yield choice.delta.content
        except openai.APITimeoutError:
            raise ModelError.of("timeout", "timeout", request_id=request_id) from None
        except openai.APIConnectionError:
            # The SDK wraps a dropped connection (httpx's "peer closed connection …").
            raise ModelError.of(
                "interrupted", "stream_interrupted", request_id=request_id
            ) from None
        except openai.APIError:
            # An `error` event mid-stream (openai-python's _streaming.py raises APIError).
            raise ModelError.of("interrupted", "stream_error", request_id=request_id) from None
        finally:
            await stream.close()
        self._finish(finish, request_id)
        whole = "".join(text)
        self.completion = StreamedCompletion(
            text=whole,
            model=self.model if self.llm.azure is not None else model,
            tokens_in=usage.prompt_tokens if usage else _prompt_tokens(self.prompt),
            tokens_out=usage.completion_tokens if usage else count_tokens(whole),
            latency_ms=self._elapsed(),
            first_delta_ms=self._first_ms(),
            finish_reason=finish,
            format=caps.format if self.output is not None else "text",
            request_id=request_id,
            logprobs=logprobs or None,
            logprobs_note=None if logprobs else _note(caps),
            usage_reported=usage is not None,
            calls=calls,
        )

    async def _whole(self, caps: Capabilities, calls: int, deadline: float) -> str:
        """The server will not stream this model: one whole answer, yielded as one delta."""
        async with asyncio.timeout_at(deadline):
            answer = await self.llm.whole(self.prompt, self.output, self.model, self.max_tokens)
        self._finish(answer.finish_reason, answer.request_id)
        self.completion = StreamedCompletion(
            text=answer.text,
            model=answer.model,
            tokens_in=answer.tokens_in,
            tokens_out=answer.tokens_out,
            latency_ms=self._elapsed(),
            first_delta_ms=self._elapsed(),
            finish_reason=answer.finish_reason,
            format=caps.format if self.output is not None else "text",
            request_id=answer.request_id,
            logprobs=answer.logprobs,
            logprobs_note=answer.logprobs_note,
            streamed=False,
            calls=calls - 1 + answer.calls,
        )
        return answer.text

    @staticmethod
    def _finish(finish: str | None, request_id: str | None) -> None:
        """A stream that ended without a finish_reason stopped midway; `length` is cut off."""
        if finish is None:
            raise ModelError.of("interrupted", "stream_ended_early", request_id=request_id)
        if finish == "length":
            raise ModelError.of("truncated", "truncated", request_id=request_id)
        if finish == "content_filter":
            raise ModelError.of("refused", "model_refusal", request_id=request_id)

    def _elapsed(self) -> float:
        return (time.perf_counter() - self._started) * 1000

    def _first_ms(self) -> float | None:
        return None if self._first is None else (self._first - self._started) * 1000


def _streaming_adjustment(
    caps: Capabilities, exc: openai.APIStatusError, sent: dict[str, Any]
) -> Capabilities | None:
    param = str(exc.param or "")
    if param == STREAM:
        return replace(caps, refused=caps.refused | {STREAM})
    if param == STREAM_OPTIONS and STREAM_OPTIONS in sent:
        return replace(caps, refused=caps.refused | {STREAM_OPTIONS})
    return adjust_after_refusal(caps, exc, sent)


def _prompt_tokens(prompt: Prompt) -> int:
    return count_tokens(prompt.system) + count_tokens(prompt.user)


def _note(caps: Capabilities) -> str:
    return caps.logprobs_note or "the model server gave no token probabilities"
