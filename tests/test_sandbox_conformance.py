"""The sandbox against Slack's published contract, for every Web API method Steward calls.

``tests/fixtures/slack_web_api_contract.json`` holds the facts, extracted from Slack's Web API
OpenAPI spec (commit and path noted in the file) plus the method reference pages for what the
spec lacks (granular bot scopes, methods newer than the spec). For each method Steward calls this
checks that the sandbox's rule table (``app/sandbox/contract.py``) agrees with those facts, and
that the running sandbox behaves by them: it reads the arguments Slack reads (a JSON body only
where ``consumes`` lists ``application/json``), it answers ``missing_scope`` naming the scope the
reference names, and a successful answer carries every field the spec's response schema requires.
The list of methods is kept honest by scanning ``app/`` and ``handlers/`` for the calls they make.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from app.sandbox import FileRecord, Sandbox, seed_demo_workspace
from app.sandbox.contract import CONTRACT, kind_scope, manifest_bot_scopes
from app.sandbox.webapi import METHODS

ROOT = Path(__file__).resolve().parents[1]
FACTS: dict[str, Any] = json.loads(
    (ROOT / "tests" / "fixtures" / "slack_web_api_contract.json").read_text()
)["methods"]
SECRET = "conformance-secret"
LAUNCH_TS = "1732460219.000300"  # the seeded #launch thread's parent

# Every Web API method Steward calls (app/ and handlers/, the sandbox excepted).
STEWARD_METHODS = frozenset(
    {
        "apps.connections.open",  # Socket Mode (slack_bolt's AsyncSocketModeHandler)
        "assistant.threads.setStatus",  # the agent pane (app/slack/agent.py)
        "assistant.threads.setSuggestedPrompts",
        "auth.test",
        "chat.postEphemeral",
        "chat.postMessage",
        "chat.update",
        "chat.startStream",
        "chat.appendStream",
        "chat.stopStream",
        "conversations.history",
        "conversations.info",
        "conversations.join",
        "conversations.list",  # policy #names (app/slack/directory.py)
        "conversations.members",
        "conversations.open",
        "conversations.replies",
        "files.completeUploadExternal",  # files_upload_v2
        "files.getUploadURLExternal",  # files_upload_v2
        "usergroups.list",
        "usergroups.users.list",
        "users.info",
        "users.list",  # policy @names (app/slack/directory.py)
        "views.open",
        "views.publish",
    }
)

# ----------------------------------------------------------------------------- discovery
FAMILIES = (
    "admin|apps|assistant|auth|bookmarks|bots|calls|chat|conversations|dnd|emoji|files|"
    "functions|oauth|openid|pins|reactions|reminders|search|stars|team|usergroups|users|views|"
    "workflows"
)
METHOD_LITERAL = re.compile(rf"[\"']((?:{FAMILIES})\.[A-Za-z][A-Za-z.]*)[\"']")
TYPED_CALL = re.compile(rf"\bclient\.((?:{FAMILIES})_[A-Za-z0-9_]+)\(")
SOCKET_MODE = re.compile(r"\bAsyncSocketModeHandler\b|\bSocketModeHandler\b|\bSocketModeClient\b")


def sdk_methods() -> dict[str, set[str]]:
    """slack_sdk's typed method name → the Web API methods it calls (followed through helpers
    such as ``files_upload_v2``), read from slack_sdk's own source."""
    source = inspect.getsource(AsyncWebClient)
    bodies = re.split(r"\n    async def ", source)
    direct: dict[str, set[str]] = {}
    helpers: dict[str, set[str]] = {}
    for body in bodies[1:]:
        name = body.split("(", 1)[0]
        direct[name] = set(re.findall(r'api_call\(\s*"([^"]+)"', body))
        helpers[name] = set(re.findall(r"self\.([a-z]+_[A-Za-z0-9_]+)\(", body))
    resolved: dict[str, set[str]] = {}

    def resolve(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
        if name in resolved:
            return resolved[name]
        found = set(direct.get(name, set()))
        for helper in helpers.get(name, set()) - seen - {name}:
            found |= resolve(helper, seen | {name})
        resolved[name] = found
        return found

    return {name: resolve(name) for name in direct}


def steward_calls() -> dict[str, set[str]]:
    """Web API method → the files of Steward that call it."""
    typed = sdk_methods()
    calls: dict[str, set[str]] = {}
    for folder in ("app", "handlers"):
        for path in (ROOT / folder).rglob("*.py"):
            if "sandbox" in path.relative_to(ROOT).parts:
                continue
            text = path.read_text(encoding="utf-8")
            where = str(path.relative_to(ROOT))
            found = set(METHOD_LITERAL.findall(text))
            for name in TYPED_CALL.findall(text):
                found |= typed.get(name, {f"<unknown slack_sdk method {name}>"})
            if SOCKET_MODE.search(text):
                found.add("apps.connections.open")
            for method in found:
                calls.setdefault(method, set()).add(where)
    return calls


def test_discovery_sees_both_call_styles() -> None:
    typed = sdk_methods()
    assert typed["conversations_replies"] == {"conversations.replies"}
    assert {"files.getUploadURLExternal", "files.completeUploadExternal"} <= typed[
        "files_upload_v2"
    ]


def test_every_method_steward_calls_is_checked_here() -> None:
    unlisted = {m: sorted(w) for m, w in steward_calls().items() if m not in STEWARD_METHODS}
    assert not unlisted, (
        f"Steward calls Web API methods this conformance test does not check: {unlisted}. "
        "Add each to STEWARD_METHODS, its facts to tests/fixtures/slack_web_api_contract.json "
        "(from Slack's spec or method reference), a row to app/sandbox/contract.py and a RECIPE."
    )


def test_the_list_holds_no_method_steward_no_longer_calls() -> None:
    stale = STEWARD_METHODS - set(steward_calls())
    assert not stale, f"STEWARD_METHODS lists methods nothing in app/ calls any more: {stale}"


# ----------------------------------------------------------------------------- the rule table
def test_every_method_the_sandbox_serves_has_facts_and_a_rule() -> None:
    assert set(METHODS) <= set(FACTS), set(METHODS) - set(FACTS)
    assert set(METHODS) <= set(CONTRACT), set(METHODS) - set(CONTRACT)
    assert set(METHODS) >= STEWARD_METHODS, STEWARD_METHODS - set(METHODS)


@pytest.mark.parametrize("method", sorted(FACTS))
def test_rule_table_agrees_with_the_facts(method: str) -> None:
    facts, rule = FACTS[method], CONTRACT[method]
    assert rule.json == ("application/json" in facts["consumes"]), (method, facts["consumes"])
    scopes = facts["bot_scopes"]
    if isinstance(scopes, list):
        assert rule.kind_action is None
        assert rule.scope == (scopes[0] if scopes else None), (method, scopes)
    elif "by_kind" in scopes:
        assert rule.scope is None and rule.kind_action == scopes["by_kind"]
        kinds = ("channel", "group", "im", "mpim")
        assert {kind_scope(k, rule.kind_action) for k in kinds} == set(scopes["scopes"])
    else:  # conversations.open: im:write for one user, mpim:write for several (in the method)
        assert method == "conversations.open" and rule.scope is None
        assert set(scopes["by_users"].values()) <= set(scopes["scopes"])


# ----------------------------------------------------------------------------- live behaviour
Recipe = Callable[[Sandbox], dict[str, Any]]


def _bot_message(sb: Sandbox) -> dict[str, Any]:
    message = sb.workspace.add_message("C0LAUNCH", "to edit", bot=True)
    return {"channel": "C0LAUNCH", "ts": message.ts, "text": "edited"}


def _uploaded_file(sb: Sandbox) -> dict[str, Any]:
    record = FileRecord(id=sb.workspace.new_id("F"), name="a.txt", length=3, user="UBOT")
    record.content = b"abc"
    sb.workspace.files[record.id] = record
    return {"files": [{"id": record.id, "title": "a"}], "channel_id": "C0LAUNCH"}


def _asked(sb: Sandbox) -> tuple[str, str]:
    """A person's message in their DM with the app (what a stream answers)."""
    dm = sb.workspace.open_im("U0EMP").id
    return dm, sb.workspace.add_message(dm, "summarise this channel", user="U0EMP").ts


def _streaming(sb: Sandbox) -> dict[str, Any]:
    dm, asked = _asked(sb)
    message = sb.workspace.add_message(dm, "", bot=True, thread_ts=asked, streaming=True)
    return {"channel": dm, "ts": message.ts}


def _start(sb: Sandbox) -> dict[str, Any]:
    dm, asked = _asked(sb)
    return {"channel": dm, "thread_ts": asked, "markdown_text": "**Summary**"}


def _status(sb: Sandbox) -> dict[str, Any]:
    dm, asked = _asked(sb)
    return {"channel_id": dm, "thread_ts": asked, "status": "Reading 3 messages…"}


def _prompts(sb: Sandbox) -> dict[str, Any]:
    dm, _ = _asked(sb)
    return {"channel_id": dm, "prompts": [{"title": "Summarise", "message": "summarise"}]}


SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}
MODAL = {"type": "modal", "title": {"type": "plain_text", "text": "Steward"}, "blocks": [SECTION]}
HOME = {"type": "home", "blocks": [SECTION]}

# Valid arguments for one call of each method (fresh each time: triggers are single-use).
RECIPES: dict[str, Recipe] = {
    "apps.connections.open": lambda sb: {},
    "assistant.threads.setStatus": _status,
    "assistant.threads.setSuggestedPrompts": _prompts,
    "auth.test": lambda sb: {},
    "chat.postEphemeral": lambda sb: {"channel": "C0LAUNCH", "user": "U0EMP", "text": "hi"},
    "chat.postMessage": lambda sb: {"channel": "C0LAUNCH", "text": "hi"},
    "chat.update": _bot_message,
    "chat.startStream": _start,
    "chat.appendStream": lambda sb: {**_streaming(sb), "markdown_text": " more"},
    "chat.stopStream": _streaming,
    "conversations.history": lambda sb: {"channel": "C0LAUNCH", "limit": 5},
    "conversations.info": lambda sb: {"channel": "C0LAUNCH"},
    "conversations.join": lambda sb: {"channel": "C0RANDOM"},
    "conversations.members": lambda sb: {"channel": "C0LAUNCH"},
    "conversations.list": lambda sb: {"types": "public_channel", "limit": 2},
    "conversations.open": lambda sb: {"users": "U0EMP"},
    "conversations.replies": lambda sb: {"channel": "C0LAUNCH", "ts": LAUNCH_TS},
    "files.completeUploadExternal": _uploaded_file,
    "files.getUploadURLExternal": lambda sb: {"filename": "a.txt", "length": 3},
    "usergroups.list": lambda sb: {"include_users": True},
    "usergroups.users.list": lambda sb: {"usergroup": "S0LEGAL"},
    "users.info": lambda sb: {"user": "U0EMP"},
    "users.list": lambda sb: {"limit": 2},
    "views.open": lambda sb: {"trigger_id": sb.interactions.issue_trigger("U0EMP"), "view": MODAL},
    "views.publish": lambda sb: {"user_id": "U0EMP", "view": HOME},
}
# The conversation a recipe touches, for methods whose scope follows its kind.
RECIPE_KIND = {"conversations.history": "channel", "conversations.replies": "channel"}
RECIPE_KIND |= {"conversations.info": "channel", "conversations.members": "channel"}
RECIPE_KIND |= {"conversations.list": "channel"}  # types=public_channel: channels:read


def _form(args: dict[str, Any]) -> dict[str, str]:
    """Arguments as Slack takes them in a form or query string: structured values JSON-encoded."""
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in args.items()}


Call = Callable[..., Awaitable[tuple[dict[str, Any], Any]]]


async def call(
    sb: Sandbox, method: str, args: dict[str, Any], encoding: str
) -> tuple[dict[str, Any], Any]:
    """One call as a client would make it: ``query`` (GET), ``form`` or ``json`` (POST)."""
    token = sb.app_token if method == "apps.connections.open" else sb.bot_token
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{sb.api_url}{method}"
    async with aiohttp.ClientSession() as session:
        if encoding == "query":
            request = session.get(url, params=_form(args), headers=headers)
        elif encoding == "form":
            request = session.post(url, data=_form(args), headers=headers)
        else:
            request = session.post(url, json=args, headers=headers)
        async with request as response:
            return await response.json(), response.headers


async def _sandbox(scopes: frozenset[str] | None = None) -> Sandbox:
    sb = await Sandbox(signing_secret=SECRET, scopes=scopes).start()
    seed_demo_workspace(sb.workspace)
    return sb


@pytest.mark.parametrize("method", sorted(STEWARD_METHODS))
async def test_sandbox_answers_with_the_fields_slack_requires(method: str) -> None:
    """With exactly the manifest's scopes, a well-formed call succeeds in the encoding Slack
    reads (form; also GET+query where the spec's verb is GET) and carries every required field."""
    sb = await _sandbox()
    try:
        encodings = ["form", "query"] if FACTS[method]["http_verb"] == "GET" else ["form"]
        for encoding in encodings:
            body, headers = await call(sb, method, RECIPES[method](sb), encoding)
            assert body.get("ok") is True, (method, encoding, body)
            missing = [f for f in FACTS[method]["required_response"] if f not in body]
            assert not missing, f"{method} answer lacks required fields {missing}: {body}"
            assert "x-oauth-scopes" in headers
    finally:
        await sb.stop()


@pytest.mark.parametrize("method", sorted(STEWARD_METHODS))
async def test_sandbox_reads_a_json_body_only_where_slack_does(method: str) -> None:
    sb = await _sandbox()
    try:
        as_json, _ = await call(sb, method, RECIPES[method](sb), "json")
        if "application/json" in FACTS[method]["consumes"]:
            assert as_json.get("ok") is True, (method, as_json)
        else:  # ignored entirely: the same answer as a call with no arguments at all
            bare, _ = await call(sb, method, {}, "form")
            assert as_json == bare, (method, as_json, bare)
    finally:
        await sb.stop()


def _needed_scope(method: str) -> str | None:
    scopes = FACTS[method]["bot_scopes"]
    if isinstance(scopes, list):
        return scopes[0] if scopes else None
    if "by_kind" in scopes:
        return kind_scope(RECIPE_KIND[method], scopes["by_kind"])  # type: ignore[arg-type]
    return str(scopes["by_users"]["1"])  # conversations.open, one user in the recipe


@pytest.mark.parametrize(
    "method", sorted(m for m in STEWARD_METHODS if _needed_scope(m) is not None)
)
async def test_sandbox_refuses_without_the_scope_slack_names(method: str) -> None:
    needed = _needed_scope(method)
    scopes = manifest_bot_scopes() - {needed}
    sb = await _sandbox(frozenset(scopes))
    try:
        body, headers = await call(sb, method, RECIPES[method](sb), "form")
        assert body == {
            "ok": False,
            "error": "missing_scope",
            "needed": needed,
            "provided": ",".join(sorted(scopes)),
        }
        assert headers["x-oauth-scopes"] == ",".join(sorted(scopes))
    finally:
        await sb.stop()


def test_steward_asks_for_every_scope_its_calls_need() -> None:
    """The manifest grants what each method Steward calls needs (the live tests run with it)."""
    granted = manifest_bot_scopes()
    needed = {m: _needed_scope(m) for m in STEWARD_METHODS}
    lacking = {m: s for m, s in needed.items() if s is not None and s not in granted}
    assert not lacking, f"manifest.yml lacks scopes Steward's calls need: {lacking}"
