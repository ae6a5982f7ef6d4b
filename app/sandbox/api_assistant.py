"""assistant.threads.* methods: the agent pane's loading status, suggested prompts and titles.

Sources (docs.slack.dev/reference/methods/<method>, "Arguments", "Errors", "Usage info"):

- assistant.threads.setStatus — required ``channel_id``, ``thread_ts``, ``status``; optional
  ``loading_messages`` ("The list of messages to rotate through as a loading indicator"); bot
  scope ``chat:write`` (the method page's Facts). An empty ``status`` clears it (bolt-python's
  Assistant docs: ``set_status("")``); replying in the thread clears it too.
- assistant.threads.setSuggestedPrompts — required ``channel_id`` and ``prompts`` ("Each prompt
  should be supplied with its title and message attribute"), optional ``title``; "up to four
  suggested prompts"; bot scope ``assistant:write``. "The thread_ts parameter should only be used
  in the legacy assistant messaging experience. Including it in a call for an agent app will cause
  the call to silently fail": for an ``agent_view`` app the call answers ok and sets nothing.
- assistant.threads.setTitle — required ``channel_id``, ``thread_ts``, ``title``; bot scope
  ``assistant:write``; errors ``channel_not_found``, ``invalid_thread_ts`` ("Thread not found").

Unpublished, so chosen conservatively: a prompt title or message over 2,000 characters or a
status over 2,000 is refused with ``invalid_arguments`` (no limit is documented; Slack's other
short text fields stop well below it); a conversation other than the app's DM with the caller is
refused with ``channel_not_found`` for setSuggestedPrompts and setTitle (they exist for the app's
own threads only).
"""

from __future__ import annotations

from .api_core import ApiContext, Args, JsonDict, SlackError
from .pane_state import Prompt, Status
from .records import Channel

MAX_PROMPTS = 4  # Source: setSuggestedPrompts usage info, "up to four suggested prompts"
MAX_SHORT_TEXT = 2_000  # unpublished; see the module docstring


def _thread(ctx: ApiContext, args: Args) -> tuple[Channel, str]:
    channel = ctx.channel(args.opt("channel_id"))
    thread_ts = args.opt("thread_ts")
    if not thread_ts:
        raise SlackError("invalid_arguments", detail="missing thread_ts")
    if thread_ts not in channel.by_ts:
        raise SlackError("invalid_thread_ts")
    return channel, thread_ts


def _short(value: str, name: str) -> str:
    if len(value) > MAX_SHORT_TEXT:
        raise SlackError("invalid_arguments", detail=f"{name} is too long")
    return value


def set_status(ctx: ApiContext, args: Args) -> JsonDict:
    channel, thread_ts = _thread(ctx, args)
    if args.data.get("status") is None:
        raise SlackError("invalid_arguments", detail="missing status")
    status = _short(str(args.data["status"]), "status")
    loading = args.structured("loading_messages") or []
    if not isinstance(loading, list) or not all(isinstance(m, str) for m in loading):
        raise SlackError("invalid_arguments", detail="loading_messages must be strings")
    latest = channel.all_messages()[-1].ts
    ctx.workspace.pane.statuses.append(
        Status(channel.id, thread_ts, status, tuple(_short(m, "loading") for m in loading), latest)
    )
    ctx.workspace.on_change()
    return {"ok": True}


def _app_dm(ctx: ApiContext, ref: str | None) -> Channel:
    channel = ctx.channel(ref)
    if not channel.is_im:
        raise SlackError("channel_not_found")
    return channel


def _prompts(raw: object) -> list[Prompt]:
    if not isinstance(raw, list) or not raw:
        raise SlackError("invalid_arguments", detail="prompts must be a non-empty array")
    if len(raw) > MAX_PROMPTS:
        raise SlackError("invalid_arguments", detail=f"no more than {MAX_PROMPTS} prompts")
    prompts = []
    for item in raw:
        if not isinstance(item, dict) or not item.get("title") or not item.get("message"):
            raise SlackError("invalid_arguments", detail="each prompt needs title and message")
        prompts.append(
            Prompt(_short(str(item["title"]), "title"), _short(str(item["message"]), "message"))
        )
    return prompts


def set_suggested_prompts(ctx: ApiContext, args: Args) -> JsonDict:
    channel = _app_dm(ctx, args.opt("channel_id"))
    prompts = _prompts(args.structured("prompts"))
    if args.opt("thread_ts") and ctx.workspace.pane.agent_view:
        return {"ok": True}  # "will cause the call to silently fail" (see the module docstring)
    ctx.workspace.pane.prompts[channel.id] = (args.opt("title"), prompts)
    ctx.workspace.on_change()
    return {"ok": True}


def set_title(ctx: ApiContext, args: Args) -> JsonDict:
    channel, thread_ts = _thread(ctx, args)
    if not channel.is_im:
        raise SlackError("channel_not_found")
    ctx.workspace.pane.titles[(channel.id, thread_ts)] = _short(args.req("title"), "title")
    ctx.workspace.on_change()
    return {"ok": True}


METHODS = {
    "assistant.threads.setStatus": set_status,
    "assistant.threads.setSuggestedPrompts": set_suggested_prompts,
    "assistant.threads.setTitle": set_title,
}
