"""`steward demo`: the whole product on a fresh machine, no Slack workspace, no API key.

It starts the local Slack sandbox with a seeded workspace, an embedded Valkey server (its own
data directory, emptied at start so every run tells the same story), the app over real signed
HTTP, and then plays the people's side, printing what each person does and what Steward shows
them. Each feature adds a scene.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.runtime.process import Runtime
from app.runtime.queue import QueueConfig
from app.runtime.settings import Settings, load_settings
from app.runtime.store import RedisTarget, open_redis
from app.sandbox import Sandbox, seed_demo_workspace

WIDTH = 96


class Transcript:
    def __init__(self, out: Any = None, quiet: bool = False) -> None:
        self.out = out or sys.stdout
        self.quiet = quiet
        self.started = time.perf_counter()

    def _print(self, text: str = "") -> None:
        if not self.quiet:
            print(text, file=self.out, flush=True)

    def title(self, text: str) -> None:
        self._print()
        self._print(f"── {text} " + "─" * max(0, WIDTH - len(text) - 4))

    def person(self, who: str, action: str) -> None:
        self._print(f"  ▶ {who} {action}")

    def steward(self, what: str, body: str = "") -> None:
        elapsed = time.perf_counter() - self.started
        self._print(f"  ◀ Steward {what}  [{elapsed:6.2f}s]")
        for line in body.splitlines():
            self._print(textwrap.indent(textwrap.fill(line, WIDTH - 8), "      │ ") if line else "")

    def note(self, text: str) -> None:
        self._print(f"    {text}")


def render_blocks(blocks: list[dict[str, Any]]) -> str:
    """Block Kit as plain text, roughly as Slack shows it."""
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("section", "header"):
            lines.append(_text(block.get("text")))
            lines.extend(_text(field) for field in block.get("fields", []))
        elif kind == "context":
            lines.append(" · ".join(_text(e) for e in block.get("elements", [])))
        elif kind == "actions":
            labels = [f"[{_text(e.get('text'))}]" for e in block.get("elements", [])]
            lines.append(" ".join(labels))
        elif kind == "divider":
            lines.append("─" * 20)
    return "\n".join(line for line in lines if line is not None)


LINK = re.compile(r"<(?:https?://[^|>]+)\|([^>]+)>")
CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
CHANNEL_NAMES = {"C0LAUNCH": "launch", "C0GENERAL": "general", "C0APPROVALS": "approvals"}
MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
DATE = re.compile(r"<!date\^[^|>]*\|([^>]*)>")
USER_NAMES: dict[str, str] = {}  # filled from the seeded workspace, for readable mentions


def _text(obj: Any) -> str:
    """Text as a person reads it in Slack: links show their label, channels their name."""
    if not isinstance(obj, dict):
        return ""
    text = LINK.sub(r"\1", str(obj.get("text", "")))
    text = DATE.sub(r"\1", text)
    text = MENTION.sub(lambda m: "@" + USER_NAMES.get(m[1], m[1]), text)
    return CHANNEL.sub(lambda m: "#" + (m[2] or CHANNEL_NAMES.get(m[1], m[1])), text)


def name_of(sandbox: Sandbox, user_id: str) -> str:
    user = sandbox.workspace.users.get(user_id)
    return user.real_name if user is not None else user_id


@dataclass
class Demo:
    sandbox: Sandbox
    runtime: Runtime
    show: Transcript

    async def until(self, predicate: Callable[[], Any], what: str, timeout: float = 30) -> Any:
        try:
            return await self.sandbox.wait_for(predicate, timeout=timeout)
        except AssertionError:
            raise DemoFailure(f"timed out waiting for {what}") from None


class DemoFailure(Exception):
    pass


Scene = Callable[[Demo], Awaitable[None]]


async def scene_home(demo: Demo) -> None:
    demo.show.title("App Home: what Steward can do here")
    sandbox = demo.sandbox
    demo.show.person(name_of(sandbox, "U0EMP"), "opens Steward's Home tab")
    await sandbox.user("U0EMP").open_home()
    home = await demo.until(lambda: sandbox.home("U0EMP"), "the App Home")
    demo.show.steward("publishes the Home tab", render_blocks(home.blocks))


async def scene_help(demo: Demo) -> None:
    demo.show.title("/steward help")
    sandbox = demo.sandbox
    demo.show.person(name_of(sandbox, "U0EMP"), "types `/steward help` in #general")
    before = len(sandbox.ephemerals(user="U0EMP"))
    delivery = await sandbox.user("U0EMP").command("/steward", "help", channel="C0GENERAL")
    demo.show.note(f"(Slack got its acknowledgement in {delivery.elapsed * 1000:.0f} ms)")
    replies = await demo.until(
        lambda: sandbox.ephemerals(user="U0EMP")[before:], "the help message"
    )
    demo.show.steward("answers privately (only Priya sees it)", render_blocks(replies[-1].blocks))


def launch_thread(sandbox: Sandbox) -> Any:
    return max(sandbox.messages("C0LAUNCH"), key=lambda m: m.reply_count or 0)


async def scene_summarize(demo: Demo) -> None:
    demo.show.title("Summarize thread: a cited, scored summary, just for Priya")
    sandbox = demo.sandbox
    priya = sandbox.user("U0EMP")
    parent = launch_thread(sandbox)
    demo.show.person(
        name_of(sandbox, "U0EMP"),
        f"uses *Summarize thread* on the #launch thread ({parent.reply_count} replies)",
    )
    before = len(sandbox.ephemerals(user="U0EMP"))
    await priya.message_shortcut("summarize_thread", parent)

    def result() -> Any:
        new = sandbox.ephemerals(user="U0EMP")[before:]
        return next((e for e in new if "Share in thread" in str(e.blocks)), None)

    summary = await demo.until(result, "the summary")
    progress = sandbox.ephemerals(user="U0EMP")[before]
    demo.show.steward("acknowledges privately", progress.text)
    demo.show.steward("shows the summary privately", render_blocks(summary.blocks))

    demo.show.person(name_of(sandbox, "U0EMP"), "clicks *Share in thread*")
    await priya.click("Share in thread", in_=summary)
    shared = await demo.until(
        lambda: [m for m in sandbox.thread("C0LAUNCH", parent.ts) if "AI-generated" in m.text],
        "the shared summary",
    )
    demo.show.steward("posts it in the thread, attributed", render_blocks(shared[-1].blocks))

    demo.show.person(name_of(sandbox, "U0EMP"), "clicks *Why?*")
    await priya.click("Why?", in_=summary)
    modal = await demo.until(lambda: priya.modal, "the Why? modal")
    demo.show.steward("opens the trace", render_blocks(modal.blocks))


async def scene_pane(demo: Demo) -> None:
    demo.show.title("The agent pane: prompts fitted to #launch, a summary streamed in the thread")
    sandbox = demo.sandbox
    pane = sandbox.user("U0EMP").pane
    demo.show.person(name_of(sandbox, "U0EMP"), "opens Steward's pane beside #launch")
    await pane.open(viewing="C0LAUNCH")
    prompts = await demo.until(
        lambda: (p := pane.prompts()) and any("#launch" in t for t in p) and p, "the prompts"
    )
    demo.show.steward("suggests", " · ".join(prompts))
    parent = launch_thread(sandbox)
    link = f"https://acme.slack.com/archives/C0LAUNCH/p{parent.ts.replace('.', '')}"
    demo.show.person(name_of(sandbox, "U0EMP"), "types: summarise <the #launch thread link>")
    asked = (await pane.type(f"summarise {link}")).message
    replies = await demo.until(
        lambda: [m for m in pane.replies(asked.ts) if not m.streaming], "the streamed answer"
    )
    statuses = sandbox.workspace.pane.statuses_in(pane.dm, asked.ts)
    demo.show.steward("shows what it is doing", " → ".join(statuses))
    demo.show.steward("streams the answer into the thread", replies[-1].text)


DEMO_POLICY = """\
# Written by `steward demo`: drafts need a manager's approval before they are posted.
admins: [U0ADMIN]
groups:
  managers: [U0MGR1, U0MGR2]
  legal: ["@legal-team"]
use_cases:
  summarize:
    channels: ["*"]
  draft:
    channels: ["*"]
    approval:
      required: true
      approvers: managers
      escalate_after: 4h
      escalate_to: legal
      expire_after: 24h
"""


def write_demo_policy(data_dir: Path) -> Path:
    """The policy the demo runs under, in its own data directory."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "policy.yml"
    path.write_text(DEMO_POLICY)
    return path


async def scene_draft(demo: Demo) -> None:
    demo.show.title("/draft: an announcement, approved by a manager before it is posted")
    sandbox = demo.sandbox
    priya, marcus = sandbox.user("U0EMP"), sandbox.user("U0MGR1")
    what = "announce that Acme Insights 3.0 ships on Tuesday Dec 10"
    demo.show.person(name_of(sandbox, "U0EMP"), f"types `/draft {what}` in #launch")
    before = len(sandbox.ephemerals(user="U0EMP"))

    def private_draft() -> Any:
        new = sandbox.ephemerals(user="U0EMP")[before:]
        return next((e for e in new if "Submit for approval" in str(e.blocks)), None)

    await priya.command("/draft", what, channel="C0LAUNCH")
    draft = await demo.until(private_draft, "the private draft")
    demo.show.steward("shows the draft privately (policy: a manager must approve)",
                      render_blocks(draft.blocks))  # fmt: skip

    demo.show.person(name_of(sandbox, "U0EMP"), "clicks *Submit for approval*")
    await priya.click("Submit for approval", in_=draft)

    def request() -> Any:
        found = sandbox.workspace.channels["C0LAUNCH"].by_ts.values()
        return next((m for m in found if "approval_approve" in str(m.blocks)), None)

    asked = await demo.until(request, "the approval request")
    demo.show.steward("asks the managers in a #launch thread", render_blocks(asked.blocks))

    demo.show.person(name_of(sandbox, "U0MGR1"), "clicks *Approve*")
    await marcus.click("Approve", in_=asked)

    def posted() -> Any:
        found = sandbox.workspace.channels["C0LAUNCH"].by_ts.values()
        return next((m for m in found if "approved by" in str(m.blocks)), None)

    post = await demo.until(posted, "the approved post")
    demo.show.steward("posts it in #launch, attributed", render_blocks(post.blocks))
    await demo.until(lambda: "Approved by" in str(asked.blocks), "the updated request")
    outcome = [line for line in render_blocks(asked.blocks).splitlines() if "Approved by" in line]
    demo.show.steward("marks the request decided", "\n".join(outcome))
    interaction = next(
        str(b["elements"][0]["value"]) for b in draft.blocks if b.get("type") == "actions"
    )
    trail = await demo.runtime.services.audit.events_for(interaction)
    lines = [
        f"{e.event:<18} actor={e.actor_id or '-':<8} approver={e.approver_id or '-':<8} "
        f"status={e.approval_status or '-'}"
        for e in trail
    ]
    demo.show.steward("has the whole story in the audit log", "\n".join(lines))


async def scene_policy(demo: Demo) -> None:
    demo.show.title("Governance: the policy in force, and the admins' off switch")
    sandbox = demo.sandbox
    priya, sam = sandbox.user("U0EMP"), sandbox.user("U0ADMIN")
    demo.show.person(name_of(sandbox, "U0EMP"), "types `/steward policy` in #launch")
    await priya.command("/steward", "policy", channel="C0LAUNCH")
    shown = await demo.until(lambda: _said(sandbox, "U0EMP", "AI policy for"), "the policy")
    demo.show.steward("shows what is on here, who approves and her budget", render_blocks(shown))

    demo.show.person(name_of(sandbox, "U0ADMIN"), "types `/steward pause incident review`")
    await sam.command("/steward", "pause incident review", channel="C0GENERAL")
    paused = await demo.until(lambda: _said(sandbox, "U0ADMIN", "paused for everyone"), "pause")
    demo.show.steward("pauses AI in every process", render_blocks(paused))
    before = len(sandbox.ephemerals(user="U0EMP"))
    demo.show.person(name_of(sandbox, "U0EMP"), "asks for `/summarize 3d` while AI is paused")
    await priya.command("/summarize", "3d", channel="C0LAUNCH")
    refused = await demo.until(
        lambda: [e for e in sandbox.ephemerals(user="U0EMP")[before:] if "paused" in e.text],
        "the refusal",
    )
    demo.show.steward("refuses, and records a `refused` audit event", refused[-1].text)
    demo.show.person(name_of(sandbox, "U0ADMIN"), "types `/steward resume`")
    await sam.command("/steward", "resume", channel="C0GENERAL")
    resumed = await demo.until(lambda: _said(sandbox, "U0ADMIN", "running again"), "the resume")
    demo.show.steward("resumes AI for everyone", render_blocks(resumed))


async def scene_audit(demo: Demo) -> None:
    demo.show.title("Audit: the admin reviews who used AI, what it said and who approved it")
    sandbox = demo.sandbox
    sam = sandbox.user("U0ADMIN")
    demo.show.person(name_of(sandbox, "U0ADMIN"), "types `/steward audit 7d`")
    before = len(sandbox.ephemerals(user="U0ADMIN"))
    await sam.command("/steward", "audit 7d", channel="C0GENERAL")
    listing = await demo.until(
        lambda: [
            e for e in sandbox.ephemerals(user="U0ADMIN")[before:] if "Export" in str(e.blocks)
        ],
        "the audit listing",
    )
    demo.show.steward("lists the interactions, newest first", render_blocks(listing[-1].blocks))
    result = await demo.runtime.services.audit.verify()
    demo.show.note(
        f"`steward audit verify`: {'intact' if result.ok else 'BROKEN'} hash chain of "
        f"{result.checked} events"
    )
    if not result.ok:
        raise DemoFailure(f"the audit chain does not verify: {result.problem}")


def _said(sandbox: Sandbox, user: str, words: str) -> list[dict[str, Any]]:
    """The blocks of the newest private message to `user` containing `words` (or [])."""
    for ephemeral in reversed(sandbox.ephemerals(user=user)):
        if words.lower() in ephemeral.text.lower():
            return ephemeral.blocks or [{"type": "section", "text": {"text": ephemeral.text}}]
    return []


SCENES: list[Scene] = [
    scene_home,
    scene_help,
    scene_summarize,
    scene_pane,
    scene_draft,
    scene_policy,
    scene_audit,
]


def demo_settings(sandbox: Sandbox, signing_secret: str, redis: RedisTarget) -> Settings:
    base = load_settings()
    return load_settings(
        slack_bot_token=sandbox.bot_token,
        slack_signing_secret=signing_secret,
        slack_app_token=sandbox.app_token,
        slack_api_url=sandbox.api_url,
        redis_url=redis.url,
        steward_data_dir=base.steward_data_dir / "demo",
        openai_api_key=base.openai_api_key,
        openai_base_url=base.openai_base_url,
        openai_model=base.openai_model,
        steward_engine=base.steward_engine,
        steward_policy=write_demo_policy(base.steward_data_dir / "demo"),
    )


async def _play(show: Transcript, redis: RedisTarget) -> int:
    from handlers.http import LoopbackServer, build_asgi

    signing_secret = secrets.token_hex(16)
    async with Sandbox(signing_secret=signing_secret, transport="http") as sandbox:
        seed_demo_workspace(sandbox.workspace)
        USER_NAMES.update({uid: u.real_name for uid, u in sandbox.workspace.users.items()})
        settings = demo_settings(sandbox, signing_secret, redis)
        runtime = Runtime(settings, redis.url, QueueConfig(visibility_timeout=10))
        await runtime.services.redis.flushdb()
        async with LoopbackServer(build_asgi(runtime, workers=1)) as server:
            sandbox.app_url = server.url + "/slack/events"
            show.note(f"Slack sandbox: {sandbox.api_url}  ·  Steward: {sandbox.app_url}")
            show.note(f"Engine: {settings.engine}  ·  Storage: {redis.description}")
            demo = Demo(sandbox, runtime, show)
            for scene in SCENES:
                await scene(demo)
    return len(SCENES)


def run_demo(quiet: bool = False) -> int:
    logging.getLogger().setLevel(logging.WARNING)
    show = Transcript(quiet=quiet)
    base = load_settings()
    show.title("Steward demo — a governed AI assistant, on a local Slack sandbox")
    redis = open_redis(
        base.model_copy(
            update={"redis_url": None, "steward_data_dir": base.steward_data_dir / "demo"}
        )
    )
    try:
        scenes = asyncio.run(_play(show, redis))
    except DemoFailure as exc:
        print(f"steward demo: failed: {exc}", file=sys.stderr)
        return 1
    finally:
        redis.close()
    elapsed = time.perf_counter() - show.started
    print(f"\nDemo finished: {scenes} scenes played end to end in {elapsed:.1f} s.")
    return 0
