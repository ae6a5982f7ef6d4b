"""The sandbox Web API, exercised through slack_sdk's real AsyncWebClient."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from app.sandbox import Message, Sandbox, seed_demo_workspace
from app.sandbox.contract import manifest_bot_scopes
from app.sandbox.seed import ARCHIVED, PRIVATE_NOT_INVITED, PUBLIC_NOT_JOINED

SECRET = "test-signing-secret"
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}
RANDOM, PEOPLE_OPS = PUBLIC_NOT_JOINED, PRIVATE_NOT_INVITED
LAUNCH_TS = "1732460219.000300"  # the #launch thread's parent (seed.py's fixed clock)


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(signing_secret=SECRET) as sb:
        seed_demo_workspace(sb.workspace)
        yield sb


@pytest.fixture
def client(sandbox: Sandbox) -> AsyncWebClient:
    return AsyncWebClient(base_url=sandbox.api_url, token=sandbox.bot_token)


async def slack_error(call: Any) -> str:
    """The Slack error code a failing call raises."""
    with pytest.raises(SlackApiError) as info:
        await call
    return str(info.value.response["error"])


def big_thread(sandbox: Sandbox, replies: int) -> Message:
    ws = sandbox.workspace
    parent = ws.add_message("C0GENERAL", "big thread", user="U0EMP")
    for i in range(replies):
        ws.add_message("C0GENERAL", f"reply {i}", user="U0ENG", thread_ts=parent.ts)
    return parent


async def all_replies(
    client: AsyncWebClient, ts: str, limit: int
) -> tuple[list[dict[str, Any]], int]:
    messages: list[dict[str, Any]] = []
    cursor = None
    pages = 0
    while True:
        page = await client.conversations_replies(
            channel="C0GENERAL", ts=ts, limit=limit, cursor=cursor
        )
        pages += 1
        messages.extend(page["messages"])
        cursor = page["response_metadata"]["next_cursor"]
        assert bool(cursor) == page["has_more"]
        if not cursor:
            return messages, pages


# ---------------------------------------------------------------------------- basics
async def test_auth_test_identifies_the_bot(client: AsyncWebClient) -> None:
    response = await client.auth_test()
    assert response["user_id"] == "UBOT"
    assert response["team_id"] == "T0STEWARD"
    assert response["bot_id"] == "B0STEWARD"


async def test_post_message_is_stored_and_returned_in_slack_shape(
    sandbox: Sandbox, client: AsyncWebClient
) -> None:
    response = await client.chat_postMessage(channel="C0GENERAL", text="hi", blocks=[SECTION])
    assert response["channel"] == "C0GENERAL"
    assert response["message"]["bot_id"] == "B0STEWARD"
    assert response["message"]["blocks"] == [SECTION]
    stored = sandbox.messages("C0GENERAL")[-1]
    assert (stored.ts, stored.text, stored.user) == (response["ts"], "hi", "UBOT")
    history = await client.conversations_history(channel="C0GENERAL", limit=1)
    assert history["messages"][0]["ts"] == response["ts"]
    assert sandbox.calls("chat.postMessage")[0].args["text"] == "hi"


async def test_timestamps_strictly_increase(sandbox: Sandbox) -> None:
    stamps = [sandbox.workspace.next_ts() for _ in range(2000)]
    assert all(a < b for a, b in itertools.pairwise(stamps))
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)


async def test_thread_reply_updates_parent_bookkeeping(
    sandbox: Sandbox, client: AsyncWebClient
) -> None:
    parent = await client.chat_postMessage(channel="C0GENERAL", text="parent")
    reply = await client.chat_postMessage(channel="C0GENERAL", text="child", thread_ts=parent["ts"])
    replies = await client.conversations_replies(channel="C0GENERAL", ts=parent["ts"])
    head, child = replies["messages"]
    assert head["reply_count"] == 1 and head["latest_reply"] == reply["ts"]
    assert child["thread_ts"] == parent["ts"]
    history = await client.conversations_history(channel="C0GENERAL")
    assert reply["ts"] not in [m["ts"] for m in history["messages"]]


async def test_form_encoded_requests_with_token_argument(sandbox: Sandbox) -> None:
    form = {"token": sandbox.bot_token, "channel": "C0LAUNCH", "blocks": json.dumps([SECTION])}
    url = f"{sandbox.api_url}chat.postMessage"
    async with aiohttp.ClientSession() as session, session.post(url, data=form) as response:
        body = await response.json()
    assert body["ok"] is True
    assert sandbox.messages("C0LAUNCH")[-1].blocks == [SECTION]
    assert "token" not in sandbox.calls("chat.postMessage")[0].args


# ---------------------------------------------------------------------------- pagination
async def test_replies_paginate_over_a_thousand_replies(
    sandbox: Sandbox, client: AsyncWebClient
) -> None:
    parent = big_thread(sandbox, 1200)
    messages, pages = await all_replies(client, parent.ts, limit=200)
    stamps = [m["ts"] for m in messages]
    assert len(stamps) == 1201 and len(set(stamps)) == 1201
    assert stamps == sorted(stamps) and stamps[0] == parent.ts
    assert [m["text"] for m in messages[1:4]] == ["reply 0", "reply 1", "reply 2"]
    assert pages == 7


async def test_replies_on_ten_thousand_reply_thread_page_completely(
    sandbox: Sandbox, client: AsyncWebClient
) -> None:
    parent = big_thread(sandbox, 10_000)
    messages, pages = await all_replies(client, parent.ts, limit=200)
    assert len(messages) == 10_001 and pages == 51


async def test_history_paginates_newest_first_with_oldest_latest_inclusive(
    sandbox: Sandbox, client: AsyncWebClient
) -> None:
    posted = [sandbox.workspace.add_message("C0PUBLIC", f"m{i}", user="U0EMP") for i in range(25)]
    seen: list[str] = []
    cursor = None
    while True:
        page = await client.conversations_history(channel="C0PUBLIC", limit=10, cursor=cursor)
        seen.extend(m["ts"] for m in page["messages"])
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert seen == [m.ts for m in reversed(posted)]
    window = await client.conversations_history(
        channel="C0PUBLIC", oldest=posted[5].ts, latest=posted[8].ts, inclusive=True
    )
    assert [m["text"] for m in window["messages"]] == ["m8", "m7", "m6", "m5"]
    exclusive = await client.conversations_history(
        channel="C0PUBLIC", oldest=posted[5].ts, latest=posted[8].ts
    )
    assert [m["text"] for m in exclusive["messages"]] == ["m7", "m6"]


async def test_members_and_users_paginate(client: AsyncWebClient) -> None:
    first = await client.users_list(limit=4)
    second = await client.users_list(limit=100, cursor=first["response_metadata"]["next_cursor"])
    ids = [u["id"] for u in first["members"] + second["members"]]
    assert len(ids) == 9 and len(set(ids)) == 9
    assert second["response_metadata"]["next_cursor"] == ""
    members = await client.conversations_members(channel="C0LEADERSHIP", limit=2)
    assert len(members["members"]) == 2 and members["response_metadata"]["next_cursor"]


# ---------------------------------------------------------------------------- errors
async def test_slack_errors(sandbox: Sandbox, client: AsyncWebClient) -> None:
    sandbox.workspace.add_channel("C0SECRET", "secret", private=True, bot_member=False)
    assert await slack_error(client.chat_postMessage(channel="C0NOPE", text="x")) == (
        "channel_not_found"
    )
    # A private channel the bot is not in is invisible to it (see api_chat._postable).
    assert await slack_error(client.chat_postMessage(channel="C0SECRET", text="x")) == (
        "channel_not_found"
    )
    assert await slack_error(client.users_info(user="U0NOBODY")) == "user_not_found"
    assert await slack_error(
        client.chat_postEphemeral(channel="C0GENERAL", user="U0NOBODY", text="x")
    ) == ("user_not_found")
    assert await slack_error(client.chat_postMessage(channel="C0GENERAL", text="x" * 40_001)) == (
        "msg_too_long"
    )
    assert await slack_error(client.conversations_replies(channel="C0GENERAL", ts="1.000001")) == (
        "thread_not_found"
    )
    with pytest.warns(UserWarning, match="text"):  # slack_sdk warns too, rightly
        assert await slack_error(client.chat_postMessage(channel="C0GENERAL")) == "no_text"
    assert sandbox.messages("C0SECRET") == []


@pytest.mark.parametrize(
    "blocks",
    [
        [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
        [{"type": "bogus"}],
        [SECTION] * 51,
        [
            {
                "type": "actions",
                "elements": [{"type": "button", "text": {"type": "plain_text", "text": "y" * 76}}],
            }
        ],
        [{**SECTION, "block_id": "same"}, {**SECTION, "block_id": "same"}],
    ],
    ids=["section-too-long", "unknown-type", "51-blocks", "button-label", "dup-block-id"],
)
async def test_invalid_blocks_are_rejected(
    sandbox: Sandbox, client: AsyncWebClient, blocks: list[dict[str, Any]]
) -> None:
    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(channel="C0GENERAL", text="x", blocks=blocks)
    assert info.value.response["error"] == "invalid_blocks"
    assert info.value.response["errors"]
    assert [m.text for m in sandbox.messages("C0GENERAL")] != ["x"]
    assert all(m.text != "x" for m in sandbox.messages("C0GENERAL"))


async def test_auth_errors(sandbox: Sandbox) -> None:
    assert await slack_error(AsyncWebClient(base_url=sandbox.api_url).auth_test()) == "not_authed"
    wrong = AsyncWebClient(base_url=sandbox.api_url, token="xoxb-wrong")
    assert await slack_error(wrong.auth_test()) == "invalid_auth"
    app_level = AsyncWebClient(base_url=sandbox.api_url, token=sandbox.app_token)
    assert await slack_error(app_level.chat_postMessage(channel="C0GENERAL", text="x")) == (
        "not_allowed_token_type"
    )
    opened = await app_level.apps_connections_open(app_token=sandbox.app_token)
    assert opened["url"].startswith("ws://127.0.0.1:")


# ---------------------------------------------------------------------------- faults
async def test_ratelimit_sends_429_with_retry_after(
    sandbox: Sandbox, client: AsyncWebClient
) -> None:
    sandbox.faults.add("chat.postMessage", "ratelimit", retry_after=7)
    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(channel="C0GENERAL", text="x")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] in ("7", ["7"])
    assert info.value.response["error"] == "ratelimited"
    assert sandbox.calls("chat.postMessage") == []


async def test_retry_handler_honours_retry_after(sandbox: Sandbox) -> None:
    client = AsyncWebClient(
        base_url=sandbox.api_url,
        token=sandbox.bot_token,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    sandbox.faults.add("chat.postEphemeral", "ratelimit", retry_after=1)
    started = time.monotonic()
    await client.chat_postEphemeral(channel="C0GENERAL", user="U0EMP", text="later")
    assert time.monotonic() - started >= 1.0
    assert [f.kind for f in sandbox.faults.fired] == ["ratelimit"]
    assert [e.text for e in sandbox.ephemerals(user="U0EMP")] == ["later"]


async def test_server_error_fault_and_retry(sandbox: Sandbox, client: AsyncWebClient) -> None:
    sandbox.faults.add("chat.postMessage", "server_error", status=503)
    with pytest.raises(SlackApiError) as info:
        await client.chat_postMessage(channel="C0GENERAL", text="x")
    assert info.value.response.status_code == 503
    sandbox.faults.add("chat.postMessage", "server_error", status=500)
    retrying = AsyncWebClient(
        base_url=sandbox.api_url,
        token=sandbox.bot_token,
        retry_handlers=[AsyncServerErrorRetryHandler(max_retry_count=1)],
    )
    assert (await retrying.chat_postMessage(channel="C0GENERAL", text="ok"))["ok"]


async def test_error_fault_only_for_matching_args(sandbox: Sandbox, client: AsyncWebClient) -> None:
    sandbox.faults.add(
        "chat.postMessage",
        "error",
        error="fatal_error",
        times=None,
        when=lambda a: a["channel"] == "C0LAUNCH",
    )
    assert await slack_error(client.chat_postMessage(channel="C0LAUNCH", text="x")) == "fatal_error"
    assert (await client.chat_postMessage(channel="C0GENERAL", text="x"))["ok"]


async def test_delay_fault_takes_effect_after_the_delay(
    sandbox: Sandbox, client: AsyncWebClient
) -> None:
    sandbox.faults.add("chat.postEphemeral", "delay", delay=0.2)
    started = time.monotonic()
    await client.chat_postEphemeral(channel="C0GENERAL", user="U0EMP", text="slow")
    assert time.monotonic() - started >= 0.2
    assert len(sandbox.ephemerals(user="U0EMP")) == 1


async def test_delay_fault_cancelled_by_disconnect_never_takes_effect(
    sandbox: Sandbox, client: AsyncWebClient
) -> None:
    sandbox.faults.add("chat.postEphemeral", "delay", delay=30)
    call = asyncio.create_task(
        client.chat_postEphemeral(channel="C0GENERAL", user="U0EMP", text="never")
    )
    await sandbox.wait_for(lambda: sandbox.in_flight("chat.postEphemeral") == 1, timeout=5)
    call.cancel()  # the client goes away, as a killed worker's connection does
    with pytest.raises(asyncio.CancelledError):
        await call
    await sandbox.wait_for(lambda: sandbox.in_flight("chat.postEphemeral") == 0, timeout=5)
    assert sandbox.ephemerals() == []
    assert sandbox.calls("chat.postEphemeral") == []


async def test_wait_for_times_out_with_what_was_recorded(
    sandbox: Sandbox, client: AsyncWebClient
) -> None:
    await client.chat_postMessage(channel="C0GENERAL", text="only this")
    with pytest.raises(AssertionError, match=r"chat\.postMessage.*only this"):
        await sandbox.wait_for(lambda: sandbox.ephemerals(), timeout=0.1)


# ---------------------------------------------------------------------------- chat extras
async def test_update_delete_and_permalink(sandbox: Sandbox, client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C0GENERAL", text="v1")
    updated = await client.chat_update(channel="C0GENERAL", ts=posted["ts"], text="v2")
    assert updated["message"]["text"] == "v2" and "edited" in updated["message"]
    link = await client.chat_getPermalink(channel="C0GENERAL", message_ts=posted["ts"])
    assert link["permalink"].endswith("/archives/C0GENERAL/p" + posted["ts"].replace(".", ""))
    human = sandbox.workspace.add_message("C0GENERAL", "mine", user="U0EMP")
    assert await slack_error(client.chat_update(channel="C0GENERAL", ts=human.ts, text="x")) == (
        "cant_update_message"
    )
    await client.chat_delete(channel="C0GENERAL", ts=posted["ts"])
    assert posted["ts"] not in [m.ts for m in sandbox.messages("C0GENERAL")]
    assert await slack_error(client.chat_delete(channel="C0GENERAL", ts=posted["ts"])) == (
        "message_not_found"
    )


async def test_streaming_into_a_message(sandbox: Sandbox, client: AsyncWebClient) -> None:
    parent = sandbox.workspace.add_message("C0LAUNCH", "summarise please", user="U0EMP")
    started = await client.chat_startStream(
        channel="C0LAUNCH",
        thread_ts=parent.ts,
        markdown_text="**Summary**",
        recipient_user_id="U0EMP",  # required outside a DM (tests/test_sandbox_pane.py)
        recipient_team_id=sandbox.workspace.team_id,
    )
    await client.chat_appendStream(channel="C0LAUNCH", ts=started["ts"], markdown_text=" part 1")
    stopped = await client.chat_stopStream(
        channel="C0LAUNCH", ts=started["ts"], markdown_text=" done", blocks=[SECTION]
    )
    assert stopped["message"]["text"] == "**Summary** part 1 done"
    message = sandbox.thread("C0LAUNCH", parent.ts)[-1]
    assert message.ts == started["ts"] and not message.streaming and message.blocks == [SECTION]
    assert await slack_error(
        client.chat_appendStream(channel="C0LAUNCH", ts=started["ts"], markdown_text="late")
    ) == ("message_not_in_streaming_state")


async def test_ephemeral_requires_channel_membership(
    sandbox: Sandbox, client: AsyncWebClient
) -> None:
    assert await slack_error(
        client.chat_postEphemeral(channel="C0LEADERSHIP", user="U0EMP", text="x")
    ) == ("user_not_in_channel")
    await client.chat_postEphemeral(channel="C0LEADERSHIP", user="U0MGR1", text="for you")
    assert [e.text for e in sandbox.ephemerals(user="U0MGR1", channel="C0LEADERSHIP")] == [
        "for you"
    ]


# ---------------------------------------------------------------------------- conversations, users
async def test_conversations_open_info_and_usergroups(client: AsyncWebClient) -> None:
    opened = await client.conversations_open(users="U0MGR1")
    again = await client.conversations_open(users="U0MGR1")
    assert opened["channel"]["id"] == again["channel"]["id"]
    assert opened["channel"]["id"].startswith("D")
    info = await client.conversations_info(channel="C0LEADERSHIP")
    assert info["channel"]["is_private"] is True and info["channel"]["is_member"] is True
    user = await client.users_info(user="U0ADMIN")
    assert user["user"]["is_admin"] is True and user["user"]["tz"]
    groups = await client.usergroups_list(include_users=True)
    legal = next(g for g in groups["usergroups"] if g["handle"] == "legal-team")
    assert legal["users"] == ["U0LEGAL"]
    members = await client.usergroups_users_list(usergroup=legal["id"])
    assert members["users"] == ["U0LEGAL"]


async def test_files_upload_v2_shares_into_channel(
    sandbox: Sandbox, client: AsyncWebClient
) -> None:
    response = await client.files_upload_v2(
        channel="C0LAUNCH", content="audit,rows\n1,2\n", filename="audit.csv", title="Audit"
    )
    record = sandbox.workspace.files[response["file"]["id"]]
    assert record.content == b"audit,rows\n1,2\n" and record.completed
    shared = sandbox.messages("C0LAUNCH")[-1]
    assert shared.files[0]["id"] == record.id and shared.subtype == "file_share"


# ---------------------------------------------------------------------------- views
async def test_views_open_push_update_and_publish(sandbox: Sandbox, client: AsyncWebClient) -> None:
    modal = {
        "type": "modal",
        "callback_id": "draft",
        "title": {"type": "plain_text", "text": "Draft"},
        "blocks": [SECTION],
    }
    trigger = sandbox.interactions.issue_trigger("U0EMP")
    opened = await client.views_open(trigger_id=trigger, view=modal)
    view_id = opened["view"]["id"]
    assert await slack_error(client.views_open(trigger_id=trigger, view=modal)) == (
        "exchanged_trigger_id"
    )
    assert await slack_error(client.views_open(trigger_id="nope", view=modal)) == (
        "invalid_trigger_id"
    )
    pushed = await client.views_push(
        trigger_id=sandbox.interactions.issue_trigger("U0EMP"), view=modal
    )
    assert pushed["view"]["root_view_id"] == view_id
    assert sandbox.user("U0EMP").modal is not None
    assert sandbox.user("U0EMP").modal.id == pushed["view"]["id"]  # type: ignore[union-attr]
    assert await slack_error(client.views_update(view_id=view_id, hash="stale", view=modal)) == (
        "hash_conflict"
    )
    await client.views_update(view_id=view_id, hash=opened["view"]["hash"], view=modal)
    home = {"type": "home", "blocks": [SECTION]}
    await client.views_publish(user_id="U0MGR1", view=home)
    assert sandbox.home("U0MGR1") is not None
    assert await slack_error(
        client.views_publish(user_id="U0MGR1", view={"type": "home", "blocks": [{"type": "x"}]})
    ) == ("invalid_blocks")


async def test_expired_trigger(sandbox: Sandbox, client: AsyncWebClient) -> None:
    sandbox.interactions.trigger_ttl = -1.0  # every trigger is already older than its TTL
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": [SECTION]}
    trigger = sandbox.interactions.issue_trigger("U0EMP")
    assert await slack_error(client.views_open(trigger_id=trigger, view=modal)) == (
        "expired_trigger_id"
    )


async def test_repeated_calls_all_succeed(client: AsyncWebClient) -> None:
    # How long a call takes is measured by bench/micro.py, not asserted here.
    answers = [await client.auth_test() for _ in range(100)]
    assert all(a["ok"] and a["team_id"] == "T0STEWARD" for a in answers)


# ---------------------------------------------------------------------------- response_url
async def post_json(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
        return response.status, await response.json()


async def test_response_url_semantics(sandbox: Sandbox) -> None:
    response_id = sandbox.interactions.issue_response("U0EMP", "C0LAUNCH")
    url = f"{sandbox.url}response/{response_id}"
    assert (await post_json(url, {"text": "just you"}))[0] == 200
    assert [e.text for e in sandbox.ephemerals(user="U0EMP")] == ["just you"]
    await post_json(url, {"text": "everyone", "response_type": "in_channel"})
    assert sandbox.messages("C0LAUNCH")[-1].text == "everyone"
    status, body = await post_json(url, {"text": "x", "blocks": [{"type": "bogus"}]})
    assert (status, body["error"]) == (400, "invalid_blocks")
    for _ in range(2):
        await post_json(url, {"text": "more"})
    status, body = await post_json(url, {"text": "sixth"})
    assert (status, body["error"]) == (404, "used_url")
    status, body = await post_json(f"{sandbox.url}response/unknown", {"text": "x"})
    assert (status, body["error"]) == (404, "expired_url")


# ---------------------------------------------------------------------------- Slack's contract
# Each test below checks one rule the sandbox takes from Slack's published material; the rule and
# its source are in app/sandbox/contract.py, api_core.py, api_chat.py, api_read.py, blockkit.py.
MANIFEST_SCOPES = manifest_bot_scopes()


async def raw_call(
    sandbox: Sandbox,
    method: str,
    *,
    json_body: dict[str, Any] | None = None,
    form: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    bearer: bool = True,
) -> tuple[dict[str, Any], Any]:
    """POST (or GET when only ``query``) exactly what is given; returns (body, headers)."""
    headers = {"Authorization": f"Bearer {sandbox.bot_token}"} if bearer else {}
    url = f"{sandbox.api_url}{method}"
    async with aiohttp.ClientSession() as session:
        if json_body is None and form is None:
            request = session.get(url, params=query or {}, headers=headers)
        else:
            request = session.post(
                url, params=query or {}, json=json_body, data=form, headers=headers
            )
        async with request as response:
            return await response.json(), response.headers


@pytest.fixture
async def granted() -> AsyncIterator[Sandbox]:
    """A sandbox whose token also holds the scopes Steward's manifest may not ask for."""
    extra = {"channels:join", "chat:write.public", "mpim:write"}
    async with Sandbox(signing_secret=SECRET, scopes=MANIFEST_SCOPES | extra) as sb:
        seed_demo_workspace(sb.workspace)
        yield sb


async def test_default_grant_is_exactly_the_manifest_bot_scopes() -> None:
    manifest = yaml.safe_load((Path(__file__).parents[1] / "manifest.yml").read_text())
    async with Sandbox(signing_secret=SECRET) as sb:
        assert sb.scopes == frozenset(manifest["oauth_config"]["scopes"]["bot"])


@pytest.mark.parametrize(
    ("method", "args"),
    [
        ("conversations.history", {"channel": "C0LAUNCH"}),
        ("conversations.replies", {"channel": "C0LAUNCH", "ts": LAUNCH_TS}),
        ("conversations.info", {"channel": "C0LAUNCH"}),
        ("conversations.members", {"channel": "C0LAUNCH"}),
        ("users.info", {"user": "U0EMP"}),
        ("usergroups.users.list", {"usergroup": "S0LEGAL"}),
        ("chat.getPermalink", {"channel": "C0LAUNCH", "message_ts": LAUNCH_TS}),
    ],
)
async def test_form_only_methods_ignore_a_json_body(
    sandbox: Sandbox, method: str, args: dict[str, str]
) -> None:
    as_json, _ = await raw_call(sandbox, method, json_body=args)
    assert as_json["ok"] is False  # as if no argument had been sent
    assert as_json["error"] in {"channel_not_found", "user_not_found", "no_such_subteam"}
    as_form, _ = await raw_call(sandbox, method, form=args)
    as_query, _ = await raw_call(sandbox, method, query=args)
    assert as_form["ok"] and as_query["ok"], (as_form, as_query)


async def test_json_methods_read_a_json_body_but_not_a_token_in_it(sandbox: Sandbox) -> None:
    posted, _ = await raw_call(
        sandbox, "chat.postMessage", json_body={"channel": "C0LAUNCH", "text": "hi"}
    )
    assert posted["ok"] and sandbox.messages("C0LAUNCH")[-1].text == "hi"
    opened, _ = await raw_call(sandbox, "conversations.open", json_body={"users": "U0EMP"})
    assert opened["channel"]["id"] == "D0EMP"
    no_header, _ = await raw_call(
        sandbox, "auth.test", json_body={"token": sandbox.bot_token}, bearer=False
    )
    assert no_header["error"] == "not_authed"
    as_form, _ = await raw_call(
        sandbox, "auth.test", form={"token": sandbox.bot_token}, bearer=False
    )
    assert as_form["ok"]


async def test_every_response_carries_x_oauth_scopes(sandbox: Sandbox) -> None:
    expected = ",".join(sorted(MANIFEST_SCOPES))
    body, headers = await raw_call(sandbox, "auth.test", form={})
    assert body["ok"] and headers["x-oauth-scopes"] == expected
    failed, headers = await raw_call(sandbox, "chat.postMessage", form={"channel": "C0NOPE"})
    assert failed["error"] == "channel_not_found" and headers["x-oauth-scopes"] == expected
    assert headers["x-accepted-oauth-scopes"] == "chat:write"
    client = AsyncWebClient(base_url=sandbox.api_url, token=sandbox.bot_token)
    response = await client.auth_test()
    assert set(response.headers["x-oauth-scopes"].split(",")) == MANIFEST_SCOPES


@pytest.mark.parametrize(
    ("removed", "call"),
    [
        ("channels:history", lambda c: c.conversations_history(channel="C0LAUNCH")),
        ("channels:history", lambda c: c.conversations_replies(channel="C0LAUNCH", ts=LAUNCH_TS)),
        ("groups:history", lambda c: c.conversations_history(channel="C0LEADERSHIP")),
        ("im:history", lambda c: c.conversations_history(channel="D0EMP")),
        ("channels:read", lambda c: c.conversations_info(channel="C0LAUNCH")),
        ("groups:read", lambda c: c.conversations_members(channel="C0LEADERSHIP")),
        ("im:read", lambda c: c.conversations_info(channel="D0EMP")),
        ("users:read", lambda c: c.users_info(user="U0EMP")),
        ("usergroups:read", lambda c: c.usergroups_list()),
        ("chat:write", lambda c: c.chat_postMessage(channel="C0LAUNCH", text="x")),
        ("chat:write", lambda c: c.chat_postEphemeral(channel="C0LAUNCH", user="U0EMP", text="x")),
        ("im:write", lambda c: c.conversations_open(users="U0EMP")),
        ("files:write", lambda c: c.files_getUploadURLExternal(filename="a.txt", length=1)),
    ],
)
async def test_missing_scope_names_needed_and_provided(removed: str, call: Any) -> None:
    scopes = MANIFEST_SCOPES - {removed}
    async with Sandbox(signing_secret=SECRET, scopes=scopes) as sb:
        seed_demo_workspace(sb.workspace)
        client = AsyncWebClient(base_url=sb.api_url, token=sb.bot_token)
        with pytest.raises(SlackApiError) as info:
            await call(client)
        body = info.value.response.data
        assert body == {
            "ok": False,
            "error": "missing_scope",
            "needed": removed,
            "provided": ",".join(sorted(scopes)),
        }


async def test_kind_scope_follows_the_conversation(sandbox: Sandbox) -> None:
    """With every scope but channels:history, private channels and DMs are still readable."""
    sandbox.scopes = MANIFEST_SCOPES - {"channels:history"}
    client = AsyncWebClient(base_url=sandbox.api_url, token=sandbox.bot_token)
    assert (await client.conversations_history(channel="C0LEADERSHIP"))["messages"]
    assert (await client.conversations_history(channel="D0EMP"))["messages"]
    error = await slack_error(client.conversations_history(channel="C0LAUNCH"))
    assert error == "missing_scope"


async def test_posting_where_the_bot_is_not_a_member(sandbox: Sandbox, granted: Sandbox) -> None:
    client = AsyncWebClient(base_url=sandbox.api_url, token=sandbox.bot_token)
    assert await slack_error(client.chat_postMessage(channel=RANDOM, text="x")) == "not_in_channel"
    assert await slack_error(client.chat_postMessage(channel=PEOPLE_OPS, text="x")) == (
        "channel_not_found"
    )
    assert await slack_error(client.chat_postMessage(channel=ARCHIVED, text="x")) == "is_archived"
    assert await slack_error(client.chat_postEphemeral(channel=RANDOM, user="U0EMP", text="x")) == (
        "not_in_channel"
    )
    assert await slack_error(client.chat_startStream(channel=RANDOM, thread_ts="1.1")) == (
        "not_in_channel"
    )
    # chat:write.public lets chat.postMessage into public channels only, not ephemerals.
    public = AsyncWebClient(base_url=granted.api_url, token=granted.bot_token)
    posted = await public.chat_postMessage(channel=RANDOM, text="hello, #random")
    assert posted["ok"] and granted.messages(RANDOM)[-1].text == "hello, #random"
    assert granted.workspace.bot_user_id not in granted.workspace.channels[RANDOM].members
    assert await slack_error(public.chat_postMessage(channel=PEOPLE_OPS, text="x")) == (
        "channel_not_found"
    )
    assert await slack_error(public.chat_postEphemeral(channel=RANDOM, user="U0EMP", text="x")) == (
        "not_in_channel"
    )


async def test_history_of_a_public_channel_not_joined_is_not_in_channel(
    client: AsyncWebClient,
) -> None:
    assert await slack_error(client.conversations_history(channel=RANDOM)) == "not_in_channel"
    assert await slack_error(client.conversations_info(channel=PEOPLE_OPS)) == ("channel_not_found")
    info = await client.conversations_info(channel=RANDOM)
    assert info["channel"]["is_member"] is False


async def test_conversations_join(sandbox: Sandbox, granted: Sandbox) -> None:
    sandbox.scopes = sandbox.scopes - {"channels:join"}
    without = AsyncWebClient(base_url=sandbox.api_url, token=sandbox.bot_token)
    with pytest.raises(SlackApiError) as info:
        await without.conversations_join(channel=RANDOM)
    assert info.value.response["needed"] == "channels:join"
    assert sandbox.workspace.bot_user_id not in sandbox.workspace.channels[RANDOM].members
    client = AsyncWebClient(base_url=granted.api_url, token=granted.bot_token)
    joined = await client.conversations_join(channel=RANDOM)
    assert joined["channel"]["id"] == RANDOM and joined["channel"]["is_member"] is True
    assert "warning" not in joined
    assert (await client.chat_postMessage(channel=RANDOM, text="now a member"))["ok"]
    again = await client.conversations_join(channel=RANDOM)
    assert again["warning"] == "already_in_channel"
    assert again["response_metadata"]["warnings"] == ["already_in_channel"]
    assert await slack_error(client.conversations_join(channel=PEOPLE_OPS)) == ("channel_not_found")
    assert granted.workspace.bot_user_id not in granted.workspace.channels[PEOPLE_OPS].members
    assert await slack_error(client.conversations_join(channel="D0EMP")) == (
        "method_not_supported_for_channel_type"
    )
    assert await slack_error(client.conversations_join(channel=ARCHIVED)) == "is_archived"


def sections(count: int, size: int) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": "x" * size}} for _ in range(count)
    ]


async def test_msg_blocks_too_long(sandbox: Sandbox, client: AsyncWebClient) -> None:
    # Each section is under its own 3,000 limit; together they pass 12,000 characters of text.
    too_long, fits = sections(5, 2_500), sections(4, 2_500)
    error = await slack_error(
        client.chat_postMessage(channel="C0LAUNCH", text="x", blocks=too_long)
    )
    assert error == "msg_blocks_too_long"
    assert await slack_error(
        client.chat_postEphemeral(channel="C0LAUNCH", user="U0EMP", text="x", blocks=too_long)
    ) == ("msg_blocks_too_long")
    posted = await client.chat_postMessage(channel="C0LAUNCH", text="x", blocks=fits)
    assert posted["ok"]
    assert await slack_error(
        client.chat_update(channel="C0LAUNCH", ts=posted["ts"], text="x", blocks=too_long)
    ) == ("msg_blocks_too_long")
    nested = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2_000}] * 6},
    ]
    assert await slack_error(
        client.chat_postMessage(channel="C0LAUNCH", text="x", blocks=nested)
    ) == ("msg_blocks_too_long")
    url = f"{sandbox.url}response/{sandbox.interactions.issue_response('U0EMP', 'C0LAUNCH')}"
    status, body = await post_json(url, {"text": "x", "blocks": too_long})
    assert (status, body["error"]) == (400, "msg_blocks_too_long")
    assert (await post_json(url, {"text": "x", "blocks": fits}))[0] == 200


async def test_replies_with_a_reply_ts_return_only_that_reply(
    sandbox: Sandbox, client: AsyncWebClient
) -> None:
    parent = sandbox.workspace.channels["C0LAUNCH"].top[0]
    reply = sandbox.workspace.channels["C0LAUNCH"].threads[parent.ts].replies[7]
    only = await client.conversations_replies(channel="C0LAUNCH", ts=reply.ts)
    assert [m["ts"] for m in only["messages"]] == [reply.ts]
    assert only["messages"][0]["thread_ts"] == parent.ts and only["has_more"] is False
    whole = await client.conversations_replies(channel="C0LAUNCH", ts=parent.ts)
    assert len(whole["messages"]) == 40 and whole["messages"][0]["ts"] == parent.ts
    lone = sandbox.workspace.channels["C0LAUNCH"].top[-1]
    alone = await client.conversations_replies(channel="C0LAUNCH", ts=lone.ts)
    assert [m["ts"] for m in alone["messages"]] == [lone.ts]


async def test_group_dm_with_several_users(sandbox: Sandbox, granted: Sandbox) -> None:
    sandbox.scopes = sandbox.scopes - {"mpim:write"}
    without = AsyncWebClient(base_url=sandbox.api_url, token=sandbox.bot_token)
    with pytest.raises(SlackApiError) as info:
        await without.conversations_open(users="U0EMP,U0MGR1")
    assert info.value.response["needed"] == "mpim:write"
    client = AsyncWebClient(base_url=granted.api_url, token=granted.bot_token)
    opened = await client.conversations_open(users=["U0EMP", "U0MGR1"], return_im=True)
    channel = opened["channel"]
    assert channel["is_mpim"] is True and channel["is_im"] is False
    for again in ("U0EMP,U0MGR1", "U0MGR1,U0EMP"):  # the same set of members, the same mpim
        assert (await client.conversations_open(users=again))["channel"]["id"] == channel["id"]
    members = await client.conversations_members(channel=channel["id"])
    assert set(members["members"]) == {"U0EMP", "U0MGR1", "UBOT"}
    assert (await client.chat_postMessage(channel=channel["id"], text="hi both"))["ok"]
    history = await client.conversations_history(channel=channel["id"])
    assert [m["text"] for m in history["messages"]] == ["hi both"]
    dm = await client.conversations_open(users="U0EMP")
    assert dm["channel"]["id"] == "D0EMP"
    nine = ",".join(["U0EMP", "U0MGR1", "U0MGR2", "U0ADMIN", "U0LEGAL", "U0ENG", "U0DES", "U0SUP"])
    granted.workspace.add_user("U0NINTH", "ninth", "Ninth Person")
    assert await slack_error(client.conversations_open(users=f"{nine},U0NINTH")) == (
        "too_many_users"
    )
    assert await slack_error(client.conversations_open(users="U0EMP,U0NOBODY")) == (
        "user_not_found"
    )
    granted.scopes = granted.scopes - {"mpim:history"}
    assert await slack_error(client.conversations_history(channel=channel["id"])) == (
        "missing_scope"
    )
