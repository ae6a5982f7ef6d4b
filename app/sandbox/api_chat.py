"""chat.* methods: posting, ephemerals, edits, deletes, permalinks and streaming."""

from __future__ import annotations

from typing import Any

from .api_core import ApiContext, Args, JsonDict, SlackError
from .blockkit import MAX_TEXT, message_block_errors
from .workspace import Channel, Message

MAX_MARKDOWN = 12_000


def _content(args: Args, *, require: bool = True) -> tuple[str, list[JsonDict], list[JsonDict]]:
    """Validated ``(text, blocks, attachments)``; Slack's errors for anything it would reject."""
    text = args.opt("text") or ""
    blocks = args.structured("blocks")
    attachments = args.structured("attachments") or []
    if len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    if blocks is not None:
        problems = message_block_errors(blocks)
        if problems:
            raise SlackError(
                "invalid_blocks",
                errors=problems,
                response_metadata={"messages": [f"[ERROR] {p}" for p in problems]},
            )
    if require and not text and not blocks and not attachments:
        raise SlackError("no_text")
    return text, list(blocks or []), list(attachments)


def _postable(ctx: ApiContext, ref: str | None) -> Channel:
    """A channel the bot may post to: public channels and those it is a member of."""
    channel = ctx.workspace.resolve_channel(ref or "")
    if channel is None:
        raise SlackError("channel_not_found")
    if channel.is_private and ctx.workspace.bot_user_id not in channel.members:
        raise SlackError("not_in_channel")
    return channel


def _thread_parent(channel: Channel, thread_ts: str | None) -> str | None:
    if not thread_ts:
        return None
    if thread_ts not in channel.by_ts:
        raise SlackError("thread_not_found")
    return thread_ts


def _bot_message(ctx: ApiContext, channel: Channel, ts: str | None) -> Message:
    """A message the bot posted, for update/delete/stream; Slack's errors otherwise."""
    message = channel.by_ts.get(ts or "")
    if message is None:
        raise SlackError("message_not_found")
    if message.bot_id != ctx.workspace.bot_id:
        raise SlackError("cant_update_message")
    return message


def post_message(ctx: ApiContext, args: Args) -> JsonDict:
    channel = _postable(ctx, args.opt("channel"))
    text, blocks, attachments = _content(args)
    thread_ts = _thread_parent(channel, args.opt("thread_ts"))
    extra: dict[str, Any] = {}
    metadata = args.structured("metadata")
    if metadata:
        extra["metadata"] = metadata
    if attachments:
        extra["attachments"] = attachments
    message = ctx.workspace.add_message(
        channel.id, text, bot=True, thread_ts=thread_ts, blocks=blocks, **extra
    )
    return {"ok": True, "channel": channel.id, "ts": message.ts, "message": message.to_api()}


def post_ephemeral(ctx: ApiContext, args: Args) -> JsonDict:
    channel = _postable(ctx, args.opt("channel"))
    user = ctx.user(args.opt("user"))
    if user not in channel.members:
        raise SlackError("user_not_in_channel")
    text, blocks, _ = _content(args)
    ephemeral = ctx.workspace.add_ephemeral(
        channel.id, user, text, blocks, thread_ts=args.opt("thread_ts")
    )
    return {"ok": True, "message_ts": ephemeral.ts}


def update(ctx: ApiContext, args: Args) -> JsonDict:
    channel = ctx.channel(args.opt("channel"))
    message = _bot_message(ctx, channel, args.opt("ts"))
    text, blocks, attachments = _content(args, require=False)
    if args.opt("text") is not None:
        message.text = text
    if args.structured("blocks") is not None:
        message.blocks = blocks
    if args.structured("attachments") is not None:
        message.attachments = attachments
    message.edited = {"user": ctx.workspace.bot_user_id, "ts": ctx.workspace.next_ts()}
    ctx.workspace.on_change()
    return {
        "ok": True,
        "channel": channel.id,
        "ts": message.ts,
        "text": message.text,
        "message": message.to_api(),
    }


def delete(ctx: ApiContext, args: Args) -> JsonDict:
    channel = ctx.channel(args.opt("channel"))
    message = channel.by_ts.get(args.opt("ts") or "")
    if message is None:
        raise SlackError("message_not_found")
    if message.bot_id != ctx.workspace.bot_id:
        raise SlackError("cant_delete_message")
    ctx.workspace.delete_message(channel.id, message.ts)
    return {"ok": True, "channel": channel.id, "ts": message.ts}


def get_permalink(ctx: ApiContext, args: Args) -> JsonDict:
    channel = ctx.channel(args.opt("channel"))
    message = channel.by_ts.get(args.opt("message_ts") or "")
    if message is None:
        raise SlackError("message_not_found")
    base = f"https://{ctx.workspace.domain}.slack.com/archives/{channel.id}"
    link = f"{base}/p{message.ts.replace('.', '')}"
    if message.is_reply:
        link += f"?thread_ts={message.thread_ts}&cid={channel.id}"
    return {"ok": True, "channel": channel.id, "permalink": link}


def _markdown(args: Args, *, required: bool) -> str:
    """Markdown from ``markdown_text`` or from ``markdown_text`` chunks."""
    text = args.opt("markdown_text") or ""
    for chunk in args.structured("chunks") or []:
        if isinstance(chunk, dict) and chunk.get("type") == "markdown_text":
            text += str(chunk.get("text", ""))
    if len(text) > MAX_MARKDOWN:
        raise SlackError("msg_too_long")
    if required and not text:
        raise SlackError("invalid_arguments", detail="markdown_text is required")
    return text


def _append(message: Message, text: str) -> None:
    if len(message.text) + len(text) > MAX_TEXT:
        raise SlackError("msg_too_long")
    message.text += text


def start_stream(ctx: ApiContext, args: Args) -> JsonDict:
    channel = _postable(ctx, args.opt("channel"))
    thread_ts = _thread_parent(channel, args.opt("thread_ts"))
    text = _markdown(args, required=False)
    message = ctx.workspace.add_message(
        channel.id, text, bot=True, thread_ts=thread_ts, streaming=True
    )
    return {"ok": True, "channel": channel.id, "ts": message.ts}


def _streaming_message(ctx: ApiContext, args: Args) -> tuple[Channel, Message]:
    channel = ctx.channel(args.opt("channel"))
    message = _bot_message(ctx, channel, args.opt("ts"))
    if not message.streaming:
        raise SlackError("message_not_in_streaming_state")
    return channel, message


def append_stream(ctx: ApiContext, args: Args) -> JsonDict:
    channel, message = _streaming_message(ctx, args)
    _append(message, _markdown(args, required=True))
    ctx.workspace.on_change()
    return {"ok": True, "channel": channel.id, "ts": message.ts}


def stop_stream(ctx: ApiContext, args: Args) -> JsonDict:
    channel, message = _streaming_message(ctx, args)
    _append(message, _markdown(args, required=False))
    blocks = args.structured("blocks")
    if blocks is not None:
        problems = message_block_errors(blocks)
        if problems:
            raise SlackError("invalid_blocks", errors=problems)
        message.blocks = list(blocks)
    metadata = args.structured("metadata")
    if metadata:
        message.metadata = metadata
    message.streaming = False
    ctx.workspace.on_change()
    return {"ok": True, "channel": channel.id, "ts": message.ts, "message": message.to_api()}


METHODS = {
    "chat.postMessage": post_message,
    "chat.postEphemeral": post_ephemeral,
    "chat.update": update,
    "chat.delete": delete,
    "chat.getPermalink": get_permalink,
    "chat.startStream": start_stream,
    "chat.appendStream": append_stream,
    "chat.stopStream": stop_stream,
}
