"""views.*, files upload v2, auth.test and apps.connections.open."""

from __future__ import annotations

import secrets
import time

from .api_core import ApiContext, Args, JsonDict, SlackError
from .blockkit import view_errors
from .interactions import TriggerError
from .records import FileRecord, ViewRecord

# Source: docs.slack.dev/surfaces/modals — a modal's view stack holds up to 3 views;
# docs.slack.dev/reference/methods/views.push errors: push_limit_reached.
MAX_MODAL_STACK = 3


def _checked_view(args: Args, expected_type: str | None = None) -> JsonDict:
    """The ``view`` argument, validated; ``invalid_blocks``/``invalid_arguments`` otherwise."""
    view = args.structured("view")
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments", response_metadata={"messages": ["view missing"]})
    if expected_type and view.get("type") != expected_type:
        raise SlackError(
            "invalid_arguments",
            response_metadata={"messages": [f"view type must be {expected_type}"]},
        )
    problems = view_errors(view)
    if problems:
        code = "invalid_blocks" if any("/blocks" in p for p in problems) else "invalid_arguments"
        raise SlackError(
            code,
            errors=problems,
            response_metadata={"messages": [f"[ERROR] {p}" for p in problems]},
        )
    return view


def _new_hash() -> str:
    return f"{int(time.time())}.{secrets.token_hex(4)}"


def _use_trigger(ctx: ApiContext, args: Args) -> tuple[str, str | None]:
    try:
        trigger = ctx.interactions.use_trigger(args.req("trigger_id", "invalid_trigger_id"))
    except TriggerError as exc:
        raise SlackError(str(exc)) from exc
    return trigger.user, trigger.view_id


def _create_view(ctx: ApiContext, user: str, view: JsonDict, **links: str | None) -> ViewRecord:
    workspace = ctx.workspace
    record = ViewRecord(
        id=workspace.new_id("V"),
        type=str(view.get("type")),
        user=user,
        view=view,
        hash=_new_hash(),
        team_id=workspace.team_id,
        app_id=workspace.app_id,
        bot_id=workspace.bot_id,
        external_id=view.get("external_id"),
        root_view_id=links.get("root_view_id"),
        previous_view_id=links.get("previous_view_id"),
    )
    workspace.views[record.id] = record
    return record


def views_open(ctx: ApiContext, args: Args) -> JsonDict:
    view = _checked_view(args, "modal")
    user, _ = _use_trigger(ctx, args)
    record = _create_view(ctx, user, view)
    for old in ctx.workspace.modal_stacks.get(user, []):
        ctx.workspace.views[old].closed = True
    ctx.workspace.modal_stacks[user] = [record.id]
    ctx.workspace.on_change()
    return {"ok": True, "view": record.to_api()}


def views_push(ctx: ApiContext, args: Args) -> JsonDict:
    view = _checked_view(args, "modal")
    user, _ = _use_trigger(ctx, args)
    stack = ctx.workspace.modal_stacks.get(user) or []
    if not stack:
        raise SlackError("not_found")
    if len(stack) >= MAX_MODAL_STACK:
        raise SlackError("push_limit_reached")
    record = _create_view(ctx, user, view, root_view_id=stack[0], previous_view_id=stack[-1])
    stack.append(record.id)
    ctx.workspace.on_change()
    return {"ok": True, "view": record.to_api()}


def _find_view(ctx: ApiContext, args: Args) -> ViewRecord:
    view_id = args.opt("view_id")
    external_id = args.opt("external_id")
    for record in ctx.workspace.views.values():
        if (view_id and record.id == view_id) or (
            external_id and record.external_id == external_id
        ):
            return record
    raise SlackError("not_found")


def views_update(ctx: ApiContext, args: Args) -> JsonDict:
    record = _find_view(ctx, args)
    view = _checked_view(args, record.type)
    expected_hash = args.opt("hash")
    if expected_hash and expected_hash != record.hash:
        raise SlackError("hash_conflict")
    record.view = view
    record.hash = _new_hash()
    record.errors = {}
    ctx.workspace.on_change()
    return {"ok": True, "view": record.to_api()}


def views_publish(ctx: ApiContext, args: Args) -> JsonDict:
    user = ctx.user(args.opt("user_id"))
    view = _checked_view(args, "home")
    existing_id = ctx.workspace.homes.get(user)
    if existing_id:
        record = ctx.workspace.views[existing_id]
        expected_hash = args.opt("hash")
        if expected_hash and expected_hash != record.hash:
            raise SlackError("hash_conflict")
        record.view = view
        record.hash = _new_hash()
    else:
        record = _create_view(ctx, user, view)
        ctx.workspace.homes[user] = record.id
    ctx.workspace.on_change()
    return {"ok": True, "view": record.to_api()}


def get_upload_url(ctx: ApiContext, args: Args) -> JsonDict:
    filename = args.req("filename", "invalid_arguments")
    length = args.number("length", -1)
    if length < 0:
        raise SlackError("invalid_arguments", detail="length is required")
    record = FileRecord(
        id=ctx.workspace.new_id("F"),
        name=filename,
        length=length,
        user=ctx.workspace.bot_user_id,
    )
    ctx.workspace.files[record.id] = record
    return {"ok": True, "upload_url": f"{ctx.base_url()}upload/{record.id}", "file_id": record.id}


def complete_upload(ctx: ApiContext, args: Args) -> JsonDict:
    entries = args.structured("files")
    if not isinstance(entries, list) or not entries:
        raise SlackError("invalid_arguments", detail="files is required")
    records = []
    for entry in entries:
        record = ctx.workspace.files.get(str(entry.get("id", "")))
        if record is None or record.content is None:
            raise SlackError("file_not_found")
        record.title = str(entry.get("title") or record.name)
        record.completed = True
        records.append(record)
    channel_ids = [c for c in (args.opt("channels") or "").split(",") if c]
    channel_id = args.opt("channel_id")
    if channel_id:
        channel_ids.append(channel_id)
    for ref in channel_ids:
        _share(ctx, ref, records, args)
    return {"ok": True, "files": [r.to_api() for r in records]}


def _share(ctx: ApiContext, ref: str, records: list[FileRecord], args: Args) -> None:
    """Post the files into ``ref`` as Slack does: a bot message carrying them."""
    channel = ctx.channel(ref)
    if ctx.workspace.bot_user_id not in channel.members:
        raise SlackError("not_in_channel")
    thread_ts = args.opt("thread_ts")
    if thread_ts and thread_ts not in channel.by_ts:
        raise SlackError("thread_not_found")
    for record in records:
        record.channels.append(channel.id)
    ctx.workspace.add_message(
        channel.id,
        args.opt("initial_comment") or "",
        bot=True,
        thread_ts=thread_ts,
        files=[r.to_api() for r in records],
        subtype="file_share",
    )


def auth_test(ctx: ApiContext, args: Args) -> JsonDict:
    workspace = ctx.workspace
    return {
        "ok": True,
        "url": f"https://{workspace.domain}.slack.com/",
        "team": workspace.team_name,
        "user": workspace.users[workspace.bot_user_id].name,
        "team_id": workspace.team_id,
        "user_id": workspace.bot_user_id,
        "bot_id": workspace.bot_id,
        "is_enterprise_install": False,
    }


def connections_open(ctx: ApiContext, args: Args) -> JsonDict:
    ticket = ctx.interactions.issue_socket_ticket()
    ws_base = ctx.base_url().replace("http://", "ws://", 1)
    return {"ok": True, "url": f"{ws_base}socket?ticket={ticket}&app_id={ctx.workspace.app_id}"}


METHODS = {
    "views.open": views_open,
    "views.push": views_push,
    "views.update": views_update,
    "views.publish": views_publish,
    "files.getUploadURLExternal": get_upload_url,
    "files.completeUploadExternal": complete_upload,
    "auth.test": auth_test,
    "apps.connections.open": connections_open,
}
