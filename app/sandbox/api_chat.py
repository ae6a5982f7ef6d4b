"""chat.* methods: posting, ephemerals, edits, deletes, permalinks and streaming."""

from __future__ import annotations

from typing import Any

from .api_core import ApiContext, Args, JsonDict, SlackError
from .blockkit import MAX_TEXT, blocks_too_long, message_block_errors
from .records import Channel, Message

# Source: docs.slack.dev/reference/methods/chat.startStream — markdown_text: "Limit this field to
# 12,000 characters".
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
        if blocks_too_long(blocks):
            raise SlackError("msg_blocks_too_long")  # Source: see blockkit.MAX_BLOCKS_TEXT
    if require and not text and not blocks and not attachments:
        raise SlackError("no_text")
    return text, list(blocks or []), list(attachments)


def _postable(ctx: ApiContext, ref: str | None, *, public_scope: bool = True) -> Channel:
    """A conversation the bot may post to, with Slack's error for each one it may not.

    Source: docs.slack.dev/reference/methods/chat.postMessage errors — channel_not_found ("Value
    passed for channel was invalid"), is_archived ("Channel has been archived"), not_in_channel
    ("Cannot post user messages to a channel they are not in"); docs.slack.dev/reference/scopes/
    chat:write.public — "Send messages to channels your Slack app isn't a member of" (public
    channels only; private channels and DMs the bot is not in stay invisible: channel_not_found).
    ``public_scope=False`` for chat.postEphemeral: posting an ephemeral message into a public
    channel the bot has not joined fails with not_in_channel even with chat:write.public —
    github.com/ifvictr/prox/issues/30 ("not_in_channel error when sending an ephemeral message
    ... to a channel it isn't in") and github.com/slackapi/node-slack-sdk/issues/977 (fails "in a
    public channel where the bot is not a member ... I also have the chat:write.public scope").
    """
    channel = ctx.visible(ref)
    if channel.is_archived:
        raise SlackError("is_archived")
    member = ctx.workspace.bot_user_id in channel.members
    if not member and not (public_scope and "chat:write.public" in ctx.scopes):
        raise SlackError("not_in_channel")
    return channel


def _thread_parent(channel: Channel, thread_ts: str | None) -> str | None:
    """Source: docs.slack.dev/reference/methods/chat.postMessage errors — thread_not_found
    ("Value for thread_ts was not a valid message")."""
    if not thread_ts:
        return None
    if thread_ts not in channel.by_ts:
        raise SlackError("thread_not_found")
    return thread_ts


def _bot_message(ctx: ApiContext, channel: Channel, ts: str | None) -> Message:
    """A message the bot posted, for update/delete/stream; Slack's errors otherwise.

    Source: docs.slack.dev/reference/methods/chat.update errors — message_not_found,
    cant_update_message ("Authenticated user does not have permission to update this message").
    """
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
    channel = _postable(ctx, args.opt("channel"), public_scope=False)
    user = ctx.user(args.opt("user"))
    # Source: docs.slack.dev/reference/methods/chat.postEphemeral — user_not_in_channel when the
    # recipient is not a member of the channel.
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


def _user_request(ctx: ApiContext, channel: Channel, thread_ts: str | None) -> str:
    """The thread a stream answers: it must hold a person's message.

    Source: docs.slack.dev/reference/methods/chat.startStream — thread_ts: "Streamed messages
    should always be replies to a user request"; slack_sdk's ``chat_startStream`` and bolt's
    ``say_stream`` require it ("say_stream without thread_ts here is unsupported"). The error for
    a missing or bot-only thread is not published: ``invalid_arguments``, the conservative answer.
    """
    parent = _thread_parent(channel, thread_ts)
    if parent is None:
        raise SlackError("invalid_arguments", detail="thread_ts is required")
    replies = channel.threads.get(parent)
    thread = [channel.by_ts[parent], *(replies.replies if replies else [])]
    if not any(m.user and m.bot_id is None and m.user != ctx.workspace.bot_user_id for m in thread):
        raise SlackError("invalid_arguments", detail="a stream must answer a user's request")
    return parent


def _recipient(ctx: ApiContext, channel: Channel, args: Args) -> None:
    """Source: docs.slack.dev/reference/methods/chat.startStream — recipient_user_id and
    recipient_team_id: "Required when streaming to channels"; @slack/web-api's
    ChatStartStreamArguments: "required when starting a streaming conversation outside of a DM".
    The error is not published: ``invalid_arguments``; an unknown user is ``user_not_found``."""
    user, team = args.opt("recipient_user_id"), args.opt("recipient_team_id")
    if channel.is_im and user is None and team is None:
        return
    if user is None or team is None:
        raise SlackError("invalid_arguments", detail="recipient_user_id and recipient_team_id")
    ctx.user(user)
    if team != ctx.workspace.team_id:
        raise SlackError("invalid_arguments", detail="recipient_team_id is not this team")


def start_stream(ctx: ApiContext, args: Args) -> JsonDict:
    channel = _postable(ctx, args.opt("channel"))
    thread_ts = _user_request(ctx, channel, args.opt("thread_ts"))
    _recipient(ctx, channel, args)
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
        if blocks_too_long(blocks):
            raise SlackError("msg_blocks_too_long")  # Source: see blockkit.MAX_BLOCKS_TEXT
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
