"""A loopback OpenAI-compatible Chat Completions server, for tests, benches and the demo.

It answers `POST /v1/chat/completions` — and Azure OpenAI's
`POST /openai/deployments/{deployment}/chat/completions?api-version=…` — the way those APIs do
(response shape, usage, logprobs, SSE streaming, 429 + Retry-After, 5xx, and OpenAI's 400 error
shape `{"error": {"message", "type", "param", "code"}}`), records every request it receives so
tests can assert on exactly what left Steward for the model, and can be made slow or faulty on
demand.

It is a witness, not a friend: its rules come from OpenAI's published behaviour, each comment
naming the page, and `profile` picks which kind of real server it plays:

* `default` — a current chat model (gpt-4o-mini): follows the prompt, honours `json_schema`;
* `strict_schema` — honours `json_schema` strictly (and rejects a schema strict mode would reject)
  but ignores a shape described only in prose, as a model that follows schemas, not prompts;
* `no_schema` — rejects `response_format: json_schema` with a 400 (older models, many vLLM,
  Ollama or proxy deployments) and follows the prompt in JSON mode;
* `reasoning` — an o-series / gpt-5 model: rejects `max_tokens`, `temperature` and `logprobs`,
  takes `max_completion_tokens`, gives no logprobs;
* `gullible` — a current chat model that obeys instructions found in the data it summarises
  (OWASP Top 10 for LLM Applications, LLM01 Prompt Injection: "indirect prompt injections occur
  when an LLM accepts input from external sources"): its gist pings `<!channel>` and repeats
  every instruction it read (links and requested words included) and any credential it saw.

`context_window=N` rejects prompts over N tokens; `answer` = `garbage`, `html` or `truncated`
plays a broken answer (prose, a proxy's HTML error page, JSON cut off at the token limit).

Streaming (`stream: true`) is served as OpenAI's server-sent events; `stream_cut_after=K` closes
the connection after K content chunks (no finish_reason, no `[DONE]`), `stream_error_after=K`
sends an `error` event there instead, `stream_stall_after=K` waits there for `stream_release`, and
`stream_unverified=True` refuses streaming as OpenAI does for an unverified organisation.

Its "model" is deterministic and honest: it reads the delimited message block (or the partial
summaries of a reduce step, or a draft's request) and answers a JSON summary whose points quote
the messages they cite, so grounding and citations can be checked end to end.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

from .model_answers import (
    GARBAGE,
    HTML_PAGE,
    ModelRequest,
    completion,
    draft_answer,
    map_answer,
    obeyed,
    reduce_answer,
    usage,
)
from .model_ask import ask_answer, question_of
from .model_schema import SCHEMA_NAME_RE, conform, strict_problem

Profile = Literal["default", "strict_schema", "no_schema", "reasoning", "gullible"]
AnswerMode = Literal["normal", "garbage", "html", "truncated"]


class Refused(Exception):
    """A 400 with OpenAI's error shape."""

    def __init__(self, message: str, param: str | None, code: str | None, status: int = 400):
        super().__init__(message)
        self.status = status
        self.body = {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": param,
                "code": code,
            }
        }


@dataclass
class ModelServer:
    """`async with ModelServer() as model:` then point OPENAI_BASE_URL at `model.url` (or
    AZURE_OPENAI_ENDPOINT at `model.azure_endpoint`)."""

    profile: Profile = "default"
    context_window: int | None = None  # prompt tokens; past it: 400 context_length_exceeded
    answer: AnswerMode = "normal"
    latency: float = 0.0  # seconds each call takes
    # While set to an Event that is not set, every accepted call waits for it: a test holds the
    # model's answers (a backlog of model jobs) and releases them when it chooses.
    hold: asyncio.Event | None = None
    # Appended to every gist: plays a model that was talked into obeying an injection.
    compromised_gist_suffix: str = ""
    # Streaming faults (see the module doc): after K content chunks.
    stream_cut_after: int | None = None
    stream_error_after: int | None = None
    stream_stall_after: int | None = None
    stream_release: asyncio.Event | None = None  # what a stalled stream waits for
    stream_unverified: bool = False
    requests: list[ModelRequest] = field(default_factory=list)
    _arrived: asyncio.Condition | None = None
    _failures: list[tuple[int, int]] = field(default_factory=list)  # (status, retry_after)
    _runner: web.AppRunner | None = None
    url: str = ""
    azure_endpoint: str = ""

    def fail_next(self, times: int = 1, status: int = 500, retry_after: int = 0) -> None:
        self._failures.extend([(status, retry_after)] * times)

    async def __aenter__(self) -> ModelServer:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.add_routes(
            [
                web.post("/v1/chat/completions", self._complete),
                web.post("/openai/deployments/{deployment}/chat/completions", self._complete),
            ]
        )
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.azure_endpoint = f"http://{host}:{port}"
        self.url = f"{self.azure_endpoint}/v1"
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.stream_release is not None:
            self.stream_release.set()
        if self.hold is not None:
            self.hold.set()  # a held call must not outlive the server (nor hang a test's teardown)
        if self._runner is not None:
            await self._runner.cleanup()

    async def arrivals(self, count: int) -> None:
        """Wait until `count` requests have arrived: with `hold` unset, that shows they were all
        in flight at once (one model round), without timing anything."""
        arrived = self._condition()
        async with arrived:
            await arrived.wait_for(lambda: len(self.requests) >= count)

    def _condition(self) -> asyncio.Condition:
        if self._arrived is None:
            self._arrived = asyncio.Condition()
        return self._arrived

    @property
    def tokens_received(self) -> int:
        return sum(r.prompt_tokens for r in self.requests)

    @property
    def accepted(self) -> list[ModelRequest]:
        """The requests it answered (not those it refused with an error)."""
        return [r for r in self.requests if r.status == 200]

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        if self._failures:
            status, retry_after = self._failures.pop(0)
            headers = {"Retry-After": str(retry_after)} if retry_after else {}
            error = {"error": {"message": "injected failure", "type": "server_error"}}
            return web.json_response(error, status=status, headers=headers)
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            # Error codes guide: a malformed body is a 400 invalid_request_error.
            refused = Refused("We could not parse the JSON body of your request.", None, None)
            return web.json_response(refused.body, status=400)
        record = ModelRequest(
            model=str(body.get("model")),
            messages=list(body.get("messages", [])),
            at=time.time(),
            body=body,
            path=request.path,
            deployment=request.match_info.get("deployment"),
            api_version=request.query.get("api-version"),
            api_key=request.headers.get("api-key"),
            authorization=request.headers.get("Authorization"),
        )
        self.requests.append(record)
        async with self._condition():
            self._condition().notify_all()
        request_id = f"req_{len(self.requests):06d}"
        headers = {"x-request-id": request_id}
        try:
            self._check(record)
        except Refused as refused:
            record.status = refused.status
            return web.json_response(refused.body, status=refused.status, headers=headers)
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.hold is not None:
            await self.hold.wait()
        if self.answer == "html":
            # What a reverse proxy in front of a model server sends when the upstream fails:
            # a 200 (or 502) HTML page, not the API's JSON.
            return web.Response(text=HTML_PAGE, content_type="text/html", headers=headers)
        content, finish_reason = self._content(record)
        if body.get("stream"):
            try:
                return await self._stream(request, record, content, finish_reason, headers)
            except ConnectionResetError:  # the client went away mid-stream (aiohttp's subclass)
                return web.Response(status=499)
        return web.json_response(completion(record, content, finish_reason), headers=headers)

    # ---- what real servers refuse ------------------------------------------------------------

    def _check(self, record: ModelRequest) -> None:
        body = record.body
        if record.deployment is not None:
            # Azure OpenAI REST reference: every data-plane call carries `api-version`, and the
            # key comes in the `api-key` header (or an Entra ID bearer token).
            if not record.api_version:
                raise Refused("Missing required query parameter: api-version", None, "404", 404)
            if not record.api_key and not record.authorization:
                raise Refused("Access denied due to missing subscription key.", None, "401", 401)
        if self.context_window is not None and record.prompt_tokens > self.context_window:
            # Error codes guide / API behaviour: a prompt past the window is a 400 naming
            # `messages` with code context_length_exceeded.
            raise Refused(
                f"This model's maximum context length is {self.context_window} tokens. However, "
                f"your messages resulted in {record.prompt_tokens} tokens. Please reduce the "
                "length of the messages.",
                "messages",
                "context_length_exceeded",
            )
        if self.profile == "reasoning":
            self._check_reasoning(body)
        self._check_streaming(body)
        self._check_response_format(record)

    @staticmethod
    def _check_reasoning(body: dict[str, Any]) -> None:
        # Reasoning models guide (o-series, gpt-5): `max_tokens` is replaced by
        # `max_completion_tokens`; sampling parameters and logprobs are not supported. The API
        # answers one 400 per request, naming the first offending parameter.
        if "max_tokens" in body:
            raise Refused(
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead.",
                "max_tokens",
                "unsupported_parameter",
            )
        temperature = body.get("temperature")
        if temperature is not None and temperature != 1:
            raise Refused(
                f"Unsupported value: 'temperature' does not support {temperature} with this "
                "model. Only the default (1) value is supported.",
                "temperature",
                "unsupported_value",
            )
        for param in ("logprobs", "top_logprobs"):
            if body.get(param):
                raise Refused(
                    f"Unsupported parameter: '{param}' is not supported with this model.",
                    param,
                    "unsupported_parameter",
                )

    def _check_streaming(self, body: dict[str, Any]) -> None:
        if body.get("stream_options") is not None and not body.get("stream"):
            # API reference, `stream_options`: "Only set this when you set `stream: true`"; the
            # API's 400 as reported in BerriAI/litellm#5803.
            raise Refused(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                "stream_options",
                None,
            )
        if body.get("stream") and self.stream_unverified:
            # o3 / gpt-5 class models stream only for verified organisations; the 400 as quoted
            # in simonw/llm-openai-plugin#15 (help.openai.com "API Organization Verification").
            raise Refused(
                "Your organization must be verified to stream this model. Please go to: "
                "https://platform.openai.com/settings/organization/general and click on Verify "
                "Organization.",
                "stream",
                "unsupported_value",
            )

    def _check_response_format(self, record: ModelRequest) -> None:
        fmt = record.body.get("response_format")
        if fmt is None:
            return
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            raise Refused(
                f"Invalid value: '{kind}'. Supported values are: 'json_object', 'json_schema', "
                "and 'text'.",
                "response_format.type",
                "invalid_value",
            )
        if kind == "json_object" and "json" not in json.dumps(record.messages).lower():
            # JSON mode (Structured Outputs guide, "JSON mode"): the messages must ask for JSON.
            raise Refused(
                "'messages' must contain the word 'json' in some form, to use 'response_format' "
                "of type 'json_object'.",
                "messages",
                None,
            )
        if kind != "json_schema":
            return
        if self.profile == "no_schema":
            # Structured Outputs guide, "Supported models": older models answer this 400 (and so
            # do many OpenAI-compatible servers that only know JSON mode).
            raise Refused(
                "Invalid parameter: 'response_format' of type 'json_schema' is not supported "
                "with this model. Learn more about supported models at the Structured Outputs "
                "guide: https://platform.openai.com/docs/guides/structured-outputs",
                "response_format",
                None,
            )
        spec = fmt.get("json_schema")
        if not isinstance(spec, dict) or not SCHEMA_NAME_RE.match(str(spec.get("name", ""))):
            raise Refused(
                "Invalid 'response_format.json_schema.name': must match ^[a-zA-Z0-9_-]{1,64}$.",
                "response_format.json_schema.name",
                "invalid_value",
            )
        schema = spec.get("schema")
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise Refused(
                f"Invalid schema for response_format '{spec['name']}': schema must be a JSON "
                "Schema of 'type: \"object\"'.",
                "response_format",
                None,
            )
        if spec.get("strict") is True:
            problem = strict_problem(schema, schema)
            if problem is not None:
                raise Refused(
                    f"Invalid schema for response_format '{spec['name']}': {problem}",
                    "response_format",
                    None,
                )

    # ---- what the model answers --------------------------------------------------------------

    def _content(self, record: ModelRequest) -> tuple[str, str]:
        if self.answer == "garbage":
            return GARBAGE, "stop"
        natural = self._natural(record)
        if record.schema is not None:
            # Structured Outputs: with strict: true the answer always matches the schema.
            answer: Any = conform(natural, record.schema, record.schema)
        elif self.profile == "strict_schema":
            # A model that follows schemas but not prose: JSON, but not the shape described.
            answer = {"result": {"content": natural}}
        else:
            answer = natural
        content = json.dumps(answer)
        if self.answer == "truncated":
            # finish_reason "length": the answer stopped at the token limit, mid-JSON.
            return content[: max(1, len(content) // 2)], "length"
        return content, "stop"

    def _natural(self, record: ModelRequest) -> dict[str, Any]:
        """The answer the prompt asks for."""
        schema = record.schema or {}
        if "ok" in schema.get("properties", {}) or '{"ok": true}' in record.user:
            return {"ok": True}  # the connection probe
        if record.is_draft:
            return draft_answer(record)
        if question_of(record.user) is not None:
            return ask_answer(record.user, self.compromised_gist_suffix)
        answer = reduce_answer(record.user) if record.is_reduce else map_answer(record.user)
        answer["gist"] = (answer["gist"] + self.compromised_gist_suffix).strip()
        if self.profile == "gullible":
            answer["gist"] = f"{answer['gist']} {obeyed(record.user)}".strip()
        return answer

    async def _stream(
        self,
        request: web.Request,
        record: ModelRequest,
        content: str,
        finish_reason: str,
        headers: dict[str, str],
    ) -> web.StreamResponse:
        # Streaming (API reference, "The chat completion chunk object"): server-sent events,
        # each `data: {chat.completion.chunk}` then a blank line; the first delta carries the
        # role, the last one the finish_reason; with stream_options.include_usage every chunk
        # has `usage: null` and one more chunk, with empty choices, carries the usage; the
        # stream ends with `data: [DONE]`. Logprobs, when asked for, ride on each delta.
        response = web.StreamResponse(
            headers={**headers, "Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        options = record.body.get("stream_options") or {}
        with_usage = bool(options.get("include_usage"))
        base: dict[str, Any] = {
            "id": f"chatcmpl-{int(record.at * 1000)}",
            "object": "chat.completion.chunk",
            "created": int(record.at),
            "model": record.model,
        }

        async def send(choices: list[dict[str, Any]], **extra: Any) -> None:
            payload = {**base, "choices": choices, **({"usage": None} if with_usage else {})}
            await response.write(f"data: {json.dumps({**payload, **extra})}\n\n".encode())

        def logprobs(piece: str) -> dict[str, Any] | None:
            if not record.body.get("logprobs"):
                return None
            tokens: list[dict[str, Any]] = [
                {"token": w, "logprob": -0.05, "bytes": None, "top_logprobs": []}
                for w in piece.split()
            ]
            return {"content": tokens}

        delta: dict[str, Any] = {"role": "assistant", "content": ""}
        await send([{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}])
        pieces = [content[start : start + 16] for start in range(0, len(content), 16)]
        for sent, piece in enumerate(pieces):
            if await self._stream_fault(request, response, sent):
                return response
            choice = {"index": 0, "delta": {"content": piece}, "logprobs": logprobs(piece)}
            await send([{**choice, "finish_reason": None}])
        if await self._stream_fault(request, response, len(pieces)):
            return response
        await send([{"index": 0, "delta": {}, "logprobs": None, "finish_reason": finish_reason}])
        if with_usage:
            await send([], usage=usage(record, content, self.profile == "reasoning"))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _stream_fault(
        self, request: web.Request, response: web.StreamResponse, sent: int
    ) -> bool:
        """Play a stream that goes wrong after `sent` content chunks; True when it ended."""
        if sent == self.stream_stall_after and self.stream_release is not None:
            await self.stream_release.wait()
        if sent == self.stream_error_after:
            # A server error mid-generation arrives as an event whose data is an `error` object
            # (openai-python's _streaming.py raises APIError on `data.get("error")`).
            message = "The server had an error while processing your request."
            error = {"error": {"message": message, "type": "server_error", "param": None}}
            await response.write(f"data: {json.dumps(error)}\n\n".encode())
            await response.write_eof()
            return True
        if sent == self.stream_cut_after:
            # The connection drops mid-answer: no final chunk, no [DONE], the chunked body left
            # incomplete (the client sees "peer closed connection").
            assert request.transport is not None
            request.transport.close()
            return True
        return False
