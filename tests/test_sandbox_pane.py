"""The sandbox's agent pane: events an agent_view app gets, the user's side of the pane, and the
assistant.threads.* and chat.*Stream rules, driven through a real slack-bolt app and slack_sdk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from app.sandbox import Sandbox, seed_demo_workspace

SECRET = "pane-secret"
FEEDBACK = {
    "type": "context_actions",
    "block_id": "rate",
    "elements": [
        {
            "type": "feedback_buttons",
            "action_id": "rated",
            "positive_button": {"text": {"type": "plain_text", "text": "Good"}, "value": "up"},
            "negative_button": {"text": {"type": "plain_text", "text": "Bad"}, "value": "down"},
        }
    ],
}


def agent_app(sandbox: Sandbox, seen: list[dict[str, Any]]) -> AsyncApp:
    client = AsyncWebClient(base_url=sandbox.api_url, token=sandbox.bot_token)
    app = AsyncApp(client=client, signing_secret=SECRET)

    @app.event("app_home_opened")
    async def opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        seen.append(event)
        if event.get("tab") == "messages":
            await client.assistant_threads_setSuggestedPrompts(
                channel_id=event["channel"],
                title="Try",
                prompts=[{"title": "Summarise", "message": "summarise this channel"}],
            )

    @app.event("app_context_changed")
    async def context(event: dict[str, Any]) -> None:
        seen.append(event)

    @app.event("message")
    async def message(event: dict[str, Any], client: AsyncWebClient) -> None:
        channel, ts = event["channel"], event["ts"]
        await client.assistant_threads_setStatus(
            channel_id=channel, thread_ts=ts, status="is reading…", loading_messages=["Reading…"]
        )
        stream = await client.chat_stream(channel=channel, thread_ts=ts, buffer_size=1)
        await stream.append(markdown_text="Here is ")
        await stream.append(markdown_text=f"*{event['text']}*")
        await stream.stop(blocks=[{"type": "markdown", "text": "done"}, FEEDBACK])

    @app.action("rated")
    async def rated(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        seen.append(body)

    return app


@pytest.fixture
async def pane_sandbox() -> AsyncIterator[tuple[Sandbox, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    async with Sandbox(signing_secret=SECRET) as sandbox:
        seed_demo_workspace(sandbox.workspace)
        runner = web.AppRunner(agent_app(sandbox, seen).web_app(path="/slack/events"))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        sandbox.app_url = f"http://{host}:{port}/slack/events"
        sandbox.transport = "http"
        try:
            yield sandbox, seen
        finally:
            await runner.cleanup()


async def test_open_view_prompt_stream_and_feedback(
    pane_sandbox: tuple[Sandbox, list[dict[str, Any]]],
) -> None:
    sandbox, seen = pane_sandbox
    pane = sandbox.user("U0EMP").pane
    await pane.open(viewing="C0LAUNCH")
    await sandbox.wait_for(lambda: len(seen) == 2 and pane.prompts())
    opened, changed = seen[0], seen[1]
    assert (opened["type"], opened["tab"], opened["channel"]) == (
        "app_home_opened",
        "messages",
        pane.dm,
    )
    assert changed["type"] == "app_context_changed"
    team = sandbox.workspace.team_id
    entity = {"type": "slack#/types/channel_id", "value": "C0LAUNCH", "team_id": team}
    assert changed["context"] == {"entities": [entity]} and changed["user"] == "U0EMP"
    assert pane.prompts() == ["Summarise"]

    posted = await pane.click_prompt("Summarise")
    assert posted.message.text == "summarise this channel" and posted.message.thread_ts is None
    [reply] = await sandbox.wait_for(
        lambda: [m for m in pane.replies(posted.message.ts) if not m.streaming]
    )
    assert reply.text == "Here is *summarise this channel*"
    assert sandbox.workspace.pane.statuses_in(pane.dm, posted.message.ts) == ["is reading…"]
    assert pane.status(posted.message.ts) is None  # the reply cleared it

    await pane.feedback(reply, positive=False)
    click = await sandbox.wait_for(lambda: [b for b in seen if b.get("type") == "block_actions"])
    action = click[0]["actions"][0]
    assert (action["type"], action["action_id"], action["value"]) == (
        "feedback_buttons",
        "rated",
        "down",
    )


async def test_view_with_nothing_in_view_sends_an_empty_context(
    pane_sandbox: tuple[Sandbox, list[dict[str, Any]]],
) -> None:
    sandbox, seen = pane_sandbox
    await sandbox.user("U0EMP").pane.view(None)
    await sandbox.wait_for(lambda: seen)
    assert seen[-1]["type"] == "app_context_changed" and seen[-1]["context"] == {}


async def test_no_pane_without_agent_view() -> None:
    async with Sandbox(signing_secret=SECRET) as sandbox:
        seed_demo_workspace(sandbox.workspace)
        sandbox.workspace.pane.agent_view = False
        with pytest.raises(AssertionError, match="agent_view"):
            await sandbox.user("U0EMP").pane.open()


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with Sandbox(signing_secret=SECRET) as sb:
        seed_demo_workspace(sb.workspace)
        yield sb


@pytest.fixture
def client(sandbox: Sandbox) -> AsyncWebClient:
    return AsyncWebClient(base_url=sandbox.api_url, token=sandbox.bot_token)


async def error_of(call: Any) -> str:
    with pytest.raises(SlackApiError) as info:
        await call
    return str(info.value.response["error"])


async def test_streams_answer_a_user_request(sandbox: Sandbox, client: AsyncWebClient) -> None:
    dm = sandbox.workspace.open_im("U0EMP").id
    asked = sandbox.workspace.add_message(dm, "hello", user="U0EMP")
    bot_only = sandbox.workspace.add_message(dm, "notice", bot=True)
    # thread_ts missing: slack_sdk requires it, so send the raw call
    assert await error_of(client.api_call("chat.startStream", json={"channel": dm})) == (
        "invalid_arguments"
    )
    assert await error_of(client.chat_startStream(channel=dm, thread_ts=bot_only.ts)) == (
        "invalid_arguments"
    )
    assert await error_of(client.chat_startStream(channel=dm, thread_ts="1.000001")) == (
        "thread_not_found"
    )
    started = await client.chat_startStream(channel=dm, thread_ts=asked.ts, markdown_text="a")
    ts = started["ts"]
    assert await error_of(
        client.chat_appendStream(channel=dm, ts=ts, markdown_text="x" * 12_001)
    ) == ("msg_too_long")
    await client.chat_appendStream(channel=dm, ts=ts, markdown_text="b")
    too_long = [{"type": "markdown", "text": "y" * 12_001}]
    assert await error_of(client.chat_stopStream(channel=dm, ts=ts, blocks=too_long)) == (
        "invalid_blocks"
    )
    stopped = await client.chat_stopStream(channel=dm, ts=ts, blocks=[FEEDBACK])
    assert stopped["message"]["text"] == "ab"
    assert await error_of(client.chat_appendStream(channel=dm, ts=ts, markdown_text="c")) == (
        "message_not_in_streaming_state"
    )


async def test_streaming_in_a_channel_needs_the_recipient(
    sandbox: Sandbox, client: AsyncWebClient
) -> None:
    asked = sandbox.workspace.add_message("C0GENERAL", "question", user="U0EMP")
    call = client.chat_startStream(channel="C0GENERAL", thread_ts=asked.ts)
    assert await error_of(call) == "invalid_arguments"
    team = sandbox.workspace.team_id
    nobody = client.chat_startStream(
        channel="C0GENERAL",
        thread_ts=asked.ts,
        recipient_user_id="U0NOBODY",
        recipient_team_id=team,
    )
    assert await error_of(nobody) == "user_not_found"
    ok = await client.chat_startStream(
        channel="C0GENERAL", thread_ts=asked.ts, recipient_user_id="U0EMP", recipient_team_id=team
    )
    assert ok["ok"] is True


async def test_assistant_thread_methods(sandbox: Sandbox, client: AsyncWebClient) -> None:
    dm = sandbox.workspace.open_im("U0EMP").id
    asked = sandbox.workspace.add_message(dm, "hello", user="U0EMP")
    five = [{"title": f"p{i}", "message": f"m{i}"} for i in range(5)]
    assert await error_of(
        client.assistant_threads_setSuggestedPrompts(channel_id=dm, prompts=five)
    ) == ("invalid_arguments")
    assert await error_of(
        client.assistant_threads_setSuggestedPrompts(channel_id=dm, prompts=[{"title": "t"}])
    ) == ("invalid_arguments")
    assert await error_of(
        client.assistant_threads_setSuggestedPrompts(channel_id="C0GENERAL", prompts=five[:1])
    ) == ("channel_not_found")
    # thread_ts on an agent_view app: ok, and silently nothing
    await client.assistant_threads_setSuggestedPrompts(
        channel_id=dm, thread_ts=asked.ts, prompts=five[:1]
    )
    assert dm not in sandbox.workspace.pane.prompts
    await client.assistant_threads_setSuggestedPrompts(channel_id=dm, prompts=five[:4])
    assert len(sandbox.workspace.pane.prompts[dm][1]) == 4
    assert await error_of(
        client.assistant_threads_setStatus(channel_id=dm, thread_ts="1.000001", status="x")
    ) == ("invalid_thread_ts")
    await client.assistant_threads_setStatus(channel_id=dm, thread_ts=asked.ts, status="working")
    assert sandbox.user("U0EMP").pane.status(asked.ts) == "working"
    await client.assistant_threads_setTitle(channel_id=dm, thread_ts=asked.ts, title="Launch")
    assert sandbox.workspace.pane.titles[(dm, asked.ts)] == "Launch"


async def test_scopes_are_the_manifests(sandbox: Sandbox, client: AsyncWebClient) -> None:
    assert "assistant:write" in sandbox.scopes
    dm = sandbox.workspace.open_im("U0EMP").id
    sandbox.scopes = sandbox.scopes - {"assistant:write"}
    prompts = [{"title": "t", "message": "m"}]
    with pytest.raises(SlackApiError) as info:
        await client.assistant_threads_setSuggestedPrompts(channel_id=dm, prompts=prompts)
    assert info.value.response["error"] == "missing_scope"
    assert info.value.response["needed"] == "assistant:write"
