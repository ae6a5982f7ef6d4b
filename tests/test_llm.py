"""The model client against the loopback model server: real HTTP, real Redis, nothing of ours
mocked. Each profile of the server plays a kind of real provider (app/sandbox/openai_compat.py)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from openai import AsyncOpenAI

from app.drafts.writer import DraftOutput
from app.model.errors import ModelError
from app.model.llm import LLM, build_llm
from app.model.probe import ProbeAnswer, probe
from app.model.profiles import CAPABILITY_TTL_S, Capabilities, CapabilityMemory
from app.model.prompt import Prompt
from app.model.structured import AnswerError, extract_json, read_answer, strict_schema
from app.runtime.settings import ConfigError, load_settings
from app.sandbox.model_schema import strict_problem
from app.sandbox.openai_compat import ModelServer, Profile
from app.summaries.summary import SummaryOutput

SYSTEM = "You summarise. Reply with one JSON object."
USER = (
    "<<messages>>\n"
    '<<msg id=M1 author="Ana">> WeˆdecidedˆtoˆshipˆonˆTuesday.\n'
    '<<msg id=M2 author="Bo">> Canˆyouˆupdateˆtheˆchangelog?\n'
    "<</messages>>\nSummarise the conversation in the block above. Reply with the JSON object only."
)
PROMPT = Prompt(SYSTEM, USER)
KEY = "sk-unit-test-key-not-real"


@pytest.fixture
async def server(request: pytest.FixtureRequest) -> AsyncIterator[ModelServer]:
    options: dict[str, Any] = getattr(request, "param", {})
    async with ModelServer(**options) as running:
        yield running


def client(server: ModelServer, redis: aioredis.Redis | None = None, **kw: Any) -> LLM:
    return LLM(KEY, kw.pop("model", "test-model"), server.url, max_retries=0, redis=redis, **kw)


def formats(server: ModelServer) -> list[str | None]:
    return [r.response_format for r in server.requests]


# ---- Structured Outputs ------------------------------------------------------------------------


@pytest.mark.parametrize("output", [SummaryOutput, DraftOutput, ProbeAnswer])
def test_generated_schemas_are_strict_mode_schemas(output: type[Any]) -> None:
    schema = strict_schema(output)
    assert strict_problem(schema, schema) is None  # the loopback's copy of OpenAI's rules
    assert "default" not in json.dumps(schema)


async def test_every_json_call_sends_the_output_models_strict_schema(server: ModelServer) -> None:
    answer = await client(server).structured(PROMPT, SummaryOutput)
    sent = server.requests[0].body["response_format"]
    assert sent["type"] == "json_schema" and sent["json_schema"]["strict"] is True
    assert sent["json_schema"]["schema"] == strict_schema(SummaryOutput)
    assert answer.format == "json_schema" and not answer.repaired
    assert answer.value.decisions[0].sources == ["M1"]
    assert answer.completion.logprobs  # a chat model: logprobs asked for and given


@pytest.mark.parametrize("server", [{"profile": "strict_schema"}], indirect=True)
async def test_a_schema_only_model_answers_summaries_and_drafts(server: ModelServer) -> None:
    llm = client(server)
    summary = await llm.structured(PROMPT, SummaryOutput)
    draft = await llm.structured(
        Prompt("Draft. Reply in JSON.", "<<request>> sayˆhi\n"), DraftOutput
    )
    assert summary.value.gist and draft.value.draft == "say hi"
    assert [r.status for r in server.requests] == [200, 200]  # no fallback, no repair


@pytest.mark.parametrize("server", [{"profile": "strict_schema"}], indirect=True)
async def test_prose_only_json_against_a_schema_only_model_fails_after_one_repair(
    server: ModelServer,
) -> None:
    llm = client(server)
    # What Steward did before: JSON mode, the shape only in the prompt.
    await llm.memory.put(llm.endpoint, "test-model", Capabilities(format="json_object"))
    with pytest.raises(ModelError) as caught:
        await llm.structured(PROMPT, SummaryOutput)
    assert (caught.value.kind, caught.value.code) == ("unreadable", "bad_output")
    assert len(server.requests) == 2  # the answer, then exactly one repair attempt
    repair = server.requests[1].messages[-1]["content"]
    assert "could not be used" in repair and "gist" in repair  # the error and the schema


@pytest.mark.parametrize("server", [{"profile": "no_schema"}], indirect=True)
async def test_refused_json_schema_falls_back_to_json_object_and_is_remembered(
    server: ModelServer, r: aioredis.Redis
) -> None:
    first = await client(server, r).structured(PROMPT, SummaryOutput)
    assert first.format == "json_object"
    assert formats(server) == ["json_schema", "json_object"]
    assert [q.status for q in server.requests] == [400, 200]
    # Another process (another client, same Redis) does not probe again.
    second = await client(server, r).structured(PROMPT, SummaryOutput)
    assert second.value == first.value
    assert formats(server) == ["json_schema", "json_object", "json_object"]
    key = CapabilityMemory.key(server.url, "test-model")
    assert 0 < await r.ttl(key) <= CAPABILITY_TTL_S


async def test_plain_text_mode_reads_json_out_of_prose_and_fences() -> None:
    fenced = 'Here you go:\n```json\n{"draft": "Hi all"}\n```\nAnything else?'
    assert read_answer(fenced, DraftOutput).draft == "Hi all"
    assert extract_json('noise {"ok": true} more } noise') == {"ok": True}
    with pytest.raises(AnswerError):
        read_answer("<html><body>502</body></html>", ProbeAnswer)


@pytest.mark.parametrize("server", [{"profile": "no_schema"}], indirect=True)
async def test_text_mode_is_the_last_fallback(server: ModelServer) -> None:
    llm = client(server)
    await llm.memory.put(llm.endpoint, "test-model", Capabilities(format="text"))
    answer = await llm.structured(PROMPT, SummaryOutput)
    assert answer.format == "text" and formats(server) == [None]
    assert answer.value.gist


# ---- model profiles --------------------------------------------------------------------------


@pytest.mark.parametrize("server", [{"profile": "reasoning"}], indirect=True)
@pytest.mark.parametrize("name", ["o1", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini"])
async def test_reasoning_models_by_name_get_their_parameters(
    server: ModelServer, name: str
) -> None:
    answer = await client(server, model=name).structured(PROMPT, SummaryOutput)
    sent = server.requests[0]
    assert sent.status == 200 and len(server.requests) == 1
    assert "max_completion_tokens" in sent.params
    assert not sent.params & {"max_tokens", "temperature", "logprobs"}
    assert answer.completion.logprobs is None
    assert answer.completion.logprobs_note == "reasoning models give no token probabilities"


@pytest.mark.parametrize("server", [{"profile": "reasoning"}], indirect=True)
async def test_a_reasoning_model_behind_an_unknown_name_is_learnt_once(
    server: ModelServer, r: aioredis.Redis
) -> None:
    await client(server, r, model="our-deployment").structured(PROMPT, SummaryOutput)
    assert [q.status for q in server.requests] == [400, 200]
    assert "max_tokens" in server.requests[0].params
    assert "max_completion_tokens" in server.requests[1].params
    await client(server, r, model="our-deployment").structured(PROMPT, SummaryOutput)
    assert [q.status for q in server.requests] == [400, 200, 200]
    assert (await CapabilityMemory(r).get(server.url, "our-deployment")).reasoning


@pytest.mark.parametrize("server", [{"profile": "reasoning"}], indirect=True)
async def test_each_refused_parameter_is_retried_once_without_it(server: ModelServer) -> None:
    llm = client(server)
    # A server known to refuse max_tokens but otherwise thought a chat model.
    await llm.memory.put(
        llm.endpoint, "test-model", Capabilities(refused=frozenset({"max_tokens"}))
    )
    await llm.complete(PROMPT)
    refused = [(q.status, json.dumps(sorted(q.params))) for q in server.requests]
    assert [status for status, _ in refused] == [400, 400, 200]
    assert server.requests[0].params == {"temperature", "logprobs"}
    assert server.requests[1].params == {"logprobs"}
    assert server.requests[2].params == set()
    caps = await llm.capabilities()
    assert caps.refused == {"max_tokens", "temperature", "logprobs"}


# ---- failures --------------------------------------------------------------------------------


@pytest.mark.parametrize("server", [{"context_window": 50}], indirect=True)
async def test_context_window_is_a_clear_error_logged_without_prompt_or_key(
    server: ModelServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.model.llm")
    with pytest.raises(ModelError) as caught:
        await client(server).structured(PROMPT, SummaryOutput)
    error = caught.value
    assert (error.kind, error.status, error.error_code) == (
        "too_long",
        400,
        "context_length_exceeded",
    )
    assert error.request_id == "req_000001" and len(server.requests) == 1
    assert "context window" in error.user_message
    failed = [rec for rec in caplog.records if rec.getMessage() == "model call failed"]
    assert len(failed) == 1
    logged = failed[0].__dict__
    assert logged["status"] == 400 and logged["error_code"] == "context_length_exceeded"
    assert logged["request_id"] == "req_000001" and logged["error_type"] == "invalid_request_error"
    everything = " ".join(json.dumps(rec.__dict__, default=str) for rec in caplog.records)
    assert "changelog" not in everything and KEY not in everything


@pytest.mark.parametrize(
    ("server", "kind", "code", "requests"),
    [
        ({"answer": "html"}, "unreadable", "not_json", 1),
        ({"answer": "garbage"}, "unreadable", "bad_output", 2),
        ({"answer": "truncated"}, "truncated", "truncated", 1),
    ],
    indirect=["server"],
)
async def test_broken_answers_are_model_errors(
    server: ModelServer, kind: str, code: str, requests: int
) -> None:
    with pytest.raises(ModelError) as caught:
        await client(server).structured(PROMPT, SummaryOutput)
    assert (caught.value.kind, caught.value.code) == (kind, code)
    assert len(server.requests) == requests  # garbage gets its one repair; the others none


@pytest.mark.parametrize(
    ("status", "kind"),
    [(429, "rate_limited"), (401, "auth"), (403, "auth"), (500, "server_error")],
)
async def test_status_errors_have_a_kind_for_the_person(
    server: ModelServer, status: int, kind: str
) -> None:
    server.fail_next(times=1, status=status)
    with pytest.raises(ModelError) as caught:
        await client(server).structured(PROMPT, SummaryOutput)
    assert caught.value.kind == kind and caught.value.status == status


async def test_an_unreachable_server_is_unreachable() -> None:
    async with ModelServer() as gone:
        url = gone.url
    llm = LLM(KEY, "test-model", url, max_retries=0)
    with pytest.raises(ModelError) as caught:
        await llm.structured(PROMPT, SummaryOutput)
    assert caught.value.kind == "unreachable"


# ---- Azure OpenAI ----------------------------------------------------------------------------


async def test_azure_settings_route_to_the_deployment_url(server: ModelServer) -> None:
    settings = load_settings(
        _env_file=None,
        azure_openai_endpoint=server.azure_endpoint,
        azure_openai_api_key="azure-unit-key",
        openai_api_version="2024-10-21",
        azure_openai_deployments="gpt-4o-mini=steward-mini, gpt-4o=steward-big",
        openai_model="gpt-4o-mini",
    )
    assert settings.engine == "openai"  # an Azure key alone selects the model engine
    llm = build_llm(settings)
    assert llm is not None
    answer = await llm.structured(PROMPT, SummaryOutput)
    await llm.structured(PROMPT, SummaryOutput, model="gpt-4.1")  # unmapped: same name
    first, second = server.requests
    assert first.path == "/openai/deployments/steward-mini/chat/completions"
    assert (first.deployment, first.api_version) == ("steward-mini", "2024-10-21")
    assert first.api_key == "azure-unit-key" and first.authorization is None
    assert second.deployment == "gpt-4.1"
    assert answer.completion.model == "gpt-4o-mini"  # the policy's name, not the deployment


def test_malformed_deployments_setting_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="AZURE_OPENAI_DEPLOYMENTS is malformed"):
        load_settings(_env_file=None, azure_openai_deployments="gpt-4o-mini")


# ---- the loopback's streaming ----------------------------------------------------------------


async def test_loopback_streams_server_sent_events_like_openai(server: ModelServer) -> None:
    sdk = AsyncOpenAI(api_key=KEY, base_url=server.url, max_retries=0)
    stream = await sdk.chat.completions.create(
        model="test-model",
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": USER}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert json.loads(text)["decisions"][0]["sources"] == ["M1"]
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None


# ---- the probe for `steward doctor` ------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "model", "fmt", "reasoning", "logprobs", "levels"),
    [
        ({}, "test-model", "json_schema", False, True, {"ok"}),
        ({"profile": "no_schema"}, "test-model", "json_object", False, True, {"ok", "warning"}),
        ({"profile": "reasoning"}, "o4-mini", "json_schema", True, False, {"ok"}),
    ],
    indirect=["server"],
)
async def test_probe_reports_what_the_endpoint_supports(
    server: ModelServer,
    model: str,
    fmt: str,
    reasoning: bool,
    logprobs: bool,
    levels: set[str],
) -> None:
    found = await probe(client(server), model)
    assert found.reachable and found.error is None
    assert (found.structured_output, found.reasoning_profile, found.logprobs) == (
        fmt,
        reasoning,
        logprobs,
    )
    lines = found.summary_lines()
    assert {level for level, _ in lines} == levels
    assert all(model in line for _, line in lines)


async def test_probe_names_the_fix_for_bad_credentials(server: ModelServer) -> None:
    server.fail_next(times=1, status=401)
    found = await probe(client(server))
    assert found.error is not None and found.error.kind == "auth"
    [(level, line)] = found.summary_lines()
    assert level == "error" and "OPENAI_API_KEY" in line


@pytest.mark.parametrize("profile", ["default", "strict_schema", "no_schema", "reasoning"])
async def test_probe_then_requests_pay_no_second_probe(profile: Profile) -> None:
    async with ModelServer(profile=profile) as server:
        llm = client(server)
        await probe(llm)
        probed = len(server.requests)
        await llm.structured(PROMPT, SummaryOutput)
        assert len(server.requests) == probed + 1
