"""The sandbox's user side, driving a real slack-bolt AsyncApp over HTTP and Socket Mode."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from app.sandbox import Ephemeral, Sandbox, seed_demo_workspace
from app.sandbox.transport import signing_headers

SECRET = "user-side-secret"
DRAFT_MODAL = {
    "type": "modal",
    "callback_id": "draft_modal",
    "title": {"type": "plain_text", "text": "Draft"},
    "submit": {"type": "plain_text", "text": "Submit for approval"},
    "blocks": [
        {
            "type": "input",
            "block_id": "msg",
            "label": {"type": "plain_text", "text": "Message"},
            "element": {"type": "plain_text_input", "action_id": "msg_input"},
            "optional": True,
        }
    ],
}


def buttons(*labels: str) -> list[dict[str, Any]]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Summary ready"}},
        {
            "type": "actions",
            "block_id": "decide",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": label},
                    "action_id": label.lower().rstrip("?"),
                    "value": "42",
                }
                for label in labels
            ],
        },
    ]


def build_app(sandbox: Sandbox, seen: list[dict[str, Any]]) -> AsyncApp:
    """A small Bolt app with one listener per kind of request the sandbox delivers."""
    client = AsyncWebClient(base_url=sandbox.api_url, token=sandbox.bot_token)
    app = AsyncApp(client=client, signing_secret=SECRET)

    @app.command("/summarize")
    async def summarize(ack: Any, command: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.chat_postEphemeral(
            channel=command["channel_id"],
            user=command["user_id"],
            text="Summary ready",
            blocks=buttons("Approve", "Discard"),
        )

    @app.command("/echo")
    async def echo(ack: Any, command: dict[str, Any]) -> None:
        await ack(text=f"echo: {command['text']}")

    @app.action("approve")
    async def approve(ack: Any, respond: Any, body: dict[str, Any]) -> None:
        await ack()
        seen.append(body)
        await respond(replace_original=True, text=f"Approved {body['actions'][0]['value']}")

    @app.action("discard")
    async def discard(ack: Any, respond: Any) -> None:
        await ack()
        await respond(delete_original=True)

    @app.action("why")
    async def why(ack: Any, body: dict[str, Any]) -> None:
        await ack()
        seen.append(body)

    @app.command("/draft")
    async def draft(ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=DRAFT_MODAL)

    @app.view("draft_modal")
    async def submitted(ack: Any, view: dict[str, Any], client: AsyncWebClient) -> None:
        value = view["state"]["values"]["msg"]["msg_input"]["value"]
        if not value:
            await ack(response_action="errors", errors={"msg": "Write something first"})
            return
        await ack()
        await client.chat_postMessage(channel="C0LAUNCH", text=value)

    @app.shortcut("summarize_thread")
    async def shortcut(ack: Any, shortcut: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.chat_postEphemeral(
            channel=shortcut["channel"]["id"],
            user=shortcut["user"]["id"],
            text=f"thread {shortcut['message']['ts']}",
        )

    @app.event("app_mention")
    async def mention(event: dict[str, Any], body: dict[str, Any], say: Any, request: Any) -> None:
        retry = request.headers.get("x-slack-retry-num") or [None]
        seen.append({"event_id": body["event_id"], "retry": retry[0]})
        await say(text="on it", thread_ts=event.get("thread_ts") or event["ts"])

    @app.event("message")
    async def direct(event: dict[str, Any], say: Any) -> None:
        if event.get("channel_type") == "im":
            await say(text="dm reply")

    @app.event("app_home_opened")
    async def home(event: dict[str, Any], client: AsyncWebClient) -> None:
        await client.views_publish(
            user_id=event["user"], view={"type": "home", "blocks": buttons("Why?")}
        )

    return app


@pytest.fixture
async def http_sandbox() -> AsyncIterator[tuple[Sandbox, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    async with Sandbox(signing_secret=SECRET) as sandbox:
        seed_demo_workspace(sandbox.workspace)
        runner = web.AppRunner(build_app(sandbox, seen).web_app(path="/slack/events"))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        sandbox.app_url = f"http://{host}:{port}/slack/events"
        sandbox.transport = "http"
        try:
            yield sandbox, seen
        finally:
            await runner.cleanup()


@pytest.fixture
async def socket_sandbox() -> AsyncIterator[tuple[Sandbox, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []
    async with Sandbox(signing_secret=SECRET, transport="socket") as sandbox:
        seed_demo_workspace(sandbox.workspace)
        handler = AsyncSocketModeHandler(build_app(sandbox, seen), app_token=sandbox.app_token)
        await handler.connect_async()
        try:
            await sandbox.socket.wait_connected(timeout=5)
            yield sandbox, seen
        finally:
            await handler.close_async()


def ephemeral_with(sandbox: Sandbox, user: str, text: str) -> Ephemeral | None:
    return next((e for e in sandbox.ephemerals(user=user) if text in e.text), None)


# ---------------------------------------------------------------------------- signing
def test_signature_verifies_with_slack_sdk() -> None:
    body = b'{"type":"url_verification"}'
    verifier = SignatureVerifier(SECRET)
    good = signing_headers(SECRET, body)
    assert verifier.is_valid(body, good["X-Slack-Request-Timestamp"], good["X-Slack-Signature"])
    assert good["X-Slack-Signature"].startswith("v0=")
    bad = signing_headers(SECRET, body, "bad")
    assert not verifier.is_valid(body, bad["X-Slack-Request-Timestamp"], bad["X-Slack-Signature"])
    stale = signing_headers(SECRET, body, "stale")
    assert int(stale["X-Slack-Request-Timestamp"]) < time.time() - 300
    assert not verifier.is_valid(
        body, stale["X-Slack-Request-Timestamp"], stale["X-Slack-Signature"]
    )
    assert signing_headers(SECRET, body, "unsigned") == {}


async def test_app_rejects_unsigned_bad_and_stale_requests(
    http_sandbox: tuple[Sandbox, list[dict[str, Any]]],
) -> None:
    sandbox, _ = http_sandbox
    body = json.dumps({"type": "url_verification", "challenge": "c1"}).encode()
    for signing in ("unsigned", "bad", "stale"):
        delivery = await sandbox.deliver_raw(body, signing=signing)
        assert delivery.status == 401, signing
    verified = await sandbox.url_verification("c2")
    assert verified.status == 200 and "c2" in verified.body


# ---------------------------------------------------------------------------- HTTP flows
async def test_command_ephemeral_and_click_by_label(
    http_sandbox: tuple[Sandbox, list[dict[str, Any]]],
) -> None:
    sandbox, seen = http_sandbox
    user = sandbox.user("U0EMP")
    delivery = await user.command("/summarize", channel="C0LAUNCH")
    assert delivery.status == 200
    ephemeral = await sandbox.wait_for(lambda: ephemeral_with(sandbox, "U0EMP", "Summary ready"))
    await user.click("Approve", in_=ephemeral)
    await sandbox.wait_for(lambda: ephemeral.text == "Approved 42")
    assert ephemeral.history[0]["text"] == "Summary ready"
    container = seen[0]["container"]
    assert container == {
        "type": "message",
        "message_ts": ephemeral.ts,
        "channel_id": "C0LAUNCH",
        "is_ephemeral": True,
    }
    assert seen[0]["actions"][0]["block_id"] == "decide"
    with pytest.raises(AssertionError, match="no button labelled 'Reject'"):
        await user.click("Reject", in_=ephemeral)


async def test_delete_original_via_response_url(
    http_sandbox: tuple[Sandbox, list[dict[str, Any]]],
) -> None:
    sandbox, _ = http_sandbox
    user = sandbox.user("U0EMP")
    await user.command("/summarize", channel="C0LAUNCH")
    ephemeral = await sandbox.wait_for(lambda: ephemeral_with(sandbox, "U0EMP", "Summary ready"))
    await user.click("Discard")  # found without in_: the newest ephemeral for this user
    await sandbox.wait_for(lambda: ephemeral.deleted)
    assert [c.args.get("delete_original") for c in sandbox.calls("response_url")] == [True]


async def test_command_ack_body_is_shown_like_slack(
    http_sandbox: tuple[Sandbox, list[dict[str, Any]]],
) -> None:
    sandbox, _ = http_sandbox
    delivery = await sandbox.user("U0EMP").command("/echo", "hello", channel="C0GENERAL")
    assert delivery.body == "echo: hello"  # Bolt answers a text-only ack as text/plain
    shown = sandbox.ephemerals(user="U0EMP")
    assert [(e.text, e.source) for e in shown] == [("echo: hello", "command_ack")]


async def test_modal_errors_then_submit(http_sandbox: tuple[Sandbox, list[dict[str, Any]]]) -> None:
    sandbox, _ = http_sandbox
    user = sandbox.user("U0EMP")
    await user.command("/draft", channel="C0LAUNCH")
    modal = await sandbox.wait_for(lambda: user.modal)
    await user.submit({"Message": ""})
    assert modal.errors == {"msg": "Write something first"} and user.modal is modal
    await user.submit({"Message": "Ship it Tuesday"})
    assert user.modal is None and modal.closed
    await sandbox.wait_for(lambda: sandbox.messages("C0LAUNCH")[-1].text == "Ship it Tuesday")


async def test_mention_in_thread_and_retry_keeps_event_id(
    http_sandbox: tuple[Sandbox, list[dict[str, Any]]],
) -> None:
    sandbox, seen = http_sandbox
    parent = sandbox.workspace.channels["C0LAUNCH"].top[0]
    posted = await sandbox.user("U0MGR1").mention("C0LAUNCH", "summarize", thread_ts=parent.ts)
    assert posted.delivery is not None and posted.delivery.status == 200
    await sandbox.wait_for(lambda: sandbox.thread("C0LAUNCH", parent.ts)[-1].text == "on it")
    await sandbox.user("U0MGR1").redeliver(posted.delivery, retry_num=1)
    await sandbox.wait_for(lambda: len(seen) == 2)
    assert seen[0]["event_id"] == seen[1]["event_id"]
    assert [s["retry"] for s in seen] == [None, "1"]


async def test_plain_post_without_mention_delivers_nothing(
    http_sandbox: tuple[Sandbox, list[dict[str, Any]]],
) -> None:
    sandbox, _ = http_sandbox
    posted = await sandbox.user("U0EMP").post("C0GENERAL", "lunch?")
    assert posted.delivery is None and sandbox.messages("C0GENERAL")[-1].text == "lunch?"


async def test_dm_to_the_bot(http_sandbox: tuple[Sandbox, list[dict[str, Any]]]) -> None:
    sandbox, _ = http_sandbox
    await sandbox.user("U0EMP").dm("hello")
    await sandbox.wait_for(lambda: sandbox.messages("D0EMP")[-1].text == "dm reply")


async def test_message_shortcut_and_home_tab(
    http_sandbox: tuple[Sandbox, list[dict[str, Any]]],
) -> None:
    sandbox, seen = http_sandbox
    parent = sandbox.workspace.channels["C0LAUNCH"].top[0]
    user = sandbox.user("U0EMP")
    await user.message_shortcut("summarize_thread", parent)
    await sandbox.wait_for(lambda: ephemeral_with(sandbox, "U0EMP", f"thread {parent.ts}"))
    await user.open_home()
    home = await sandbox.wait_for(lambda: sandbox.home("U0EMP"))
    await user.click("Why?", in_=home)
    await sandbox.wait_for(lambda: seen)
    assert seen[0]["container"] == {"type": "view", "view_id": home.id}


# ---------------------------------------------------------------------------- Socket Mode
async def test_socket_mode_round_trip(
    socket_sandbox: tuple[Sandbox, list[dict[str, Any]]],
) -> None:
    sandbox, seen = socket_sandbox
    user = sandbox.user("U0EMP")
    delivery = await user.command("/summarize", channel="C0LAUNCH")
    assert delivery.status == 200 and delivery.envelope_id
    ephemeral = await sandbox.wait_for(lambda: ephemeral_with(sandbox, "U0EMP", "Summary ready"))
    await user.click("Approve", in_=ephemeral)
    await sandbox.wait_for(lambda: ephemeral.text == "Approved 42")
    await user.command("/draft", channel="C0LAUNCH")
    modal = await sandbox.wait_for(lambda: user.modal)
    answer = await user.submit({"msg_input": ""})
    assert answer.json() == {
        "response_action": "errors",
        "errors": {"msg": "Write something first"},
    }
    assert modal.errors and user.modal is modal
    posted = await sandbox.user("U0MGR1").mention("C0LAUNCH", "hi")
    await sandbox.wait_for(
        lambda: sandbox.thread("C0LAUNCH", posted.message.ts)[-1].text == "on it"
    )
    assert any(s.get("event_id") for s in seen)


async def test_socket_mode_reconnects_after_disconnect_request(
    socket_sandbox: tuple[Sandbox, list[dict[str, Any]]],
) -> None:
    sandbox, _ = socket_sandbox
    await sandbox.socket.disconnect_all()
    await sandbox.wait_for(lambda: len(sandbox.calls("apps.connections.open")) == 2)
    delivery = await sandbox.user("U0EMP").command("/echo", "again", channel="C0GENERAL")
    assert delivery.status == 200
    assert [e.text for e in sandbox.ephemerals(user="U0EMP")] == ["echo: again"]
