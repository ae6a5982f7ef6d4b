"""The one small port through which the core talks to Slack.

The same code runs against Slack, the local sandbox or a test server: only `SLACK_API_URL`
changes. slack_sdk's retry handlers retry a 429 after its Retry-After for every method: a 429 means
Slack did nothing (docs.slack.dev/apis/web-api/rate-limits). A 5xx or a dropped connection is
retried only for calls that are safe to repeat. A method that creates something
(`NOT_REPEATABLE`: chat.postMessage, chat.postEphemeral, …) is sent once: Slack can commit a post
and still answer 500 or lose the answer (slackapi/slack-api-specs#10: "the slack API received and
processed the request successfully" while the client saw a failure; openclaw/openclaw#22780: the
SDK's retry after a lost answer made a second chat.postMessage), and slack_sdk's
`AsyncServerErrorRetryHandler` / `AsyncConnectionErrorRetryHandler` would send it again
(docs.slack.dev/tools/python-slack-sdk/reference/http_retry/builtin_async_handlers). The caller
sees a `SlackError` and decides, e.g. by looking for its post first (`app/drafts/posting.py`).
Callers see either a result or a `SlackError`.

Every call goes through slack_sdk's typed method of the same name, which encodes it the way
Slack's Web API spec says that method takes it: read methods (`conversations.history`,
`users.info`, …) as GET with query arguments, since Slack ignores a JSON body there, and write
methods (`chat.*`, `views.*`) as JSON.

Posting needs the bot in the conversation (`not_in_channel` otherwise; Steward does not ask for
`chat:write.public`, see the README). A public channel is joined on first need with
`channels:join`; a private one cannot be, and the caller gets `NotPostable` with what to do.
Messages longer than Slack accepts in one go are split (`app/slack/message_split.py`), never cut.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from app.slack.message_split import split_message
from app.slack.reply import ReplyTo

log = logging.getLogger(__name__)

Blocks = Sequence[dict[str, Any]]
HTTP_TIMEOUT_S = 15


class SlackError(Exception):
    """A Web API call failed for good. `code` is Slack's error string, e.g. `channel_not_found`."""

    def __init__(self, method: str, code: str, needed: str | None = None) -> None:
        super().__init__(f"{method} failed: {code}" + (f" (needs {needed})" if needed else ""))
        self.method = method
        self.code = code
        self.needed = needed  # with `missing_scope`: the scope Slack says the call needs

    @property
    def missing_scope_hint(self) -> str | None:
        """What an admin must grant, when the app lacks a scope."""
        if self.code != "missing_scope":
            return None
        scope = f"the `{self.needed}` scope" if self.needed else "a scope this needs"
        return (
            f"Steward's Slack app is missing {scope}. A workspace admin can add it under "
            "OAuth & Permissions in the app's settings and reinstall the app."
        )


class NotPostable(SlackError):
    """Steward cannot post in `channel` and cannot fix that itself; `hint` says who can, how."""

    def __init__(self, method: str, code: str, channel: str) -> None:
        super().__init__(method, code)
        self.channel = channel

    @property
    def hint(self) -> str:
        if self.code == "is_archived":
            return f"<#{self.channel}> is archived, so Steward can't post there."
        return (
            f"Steward isn't a member of <#{self.channel}>. Invite it there "
            f"(type `/invite @Steward` in that channel), then try again."
        )


# Errors that mean "post privately some other way", not "the request is broken".
NOT_REACHABLE = {"channel_not_found", "not_in_channel", "user_not_in_channel", "is_archived"}
# conversations.join cannot help: the channel is private, archived, or we may not join.
_JOIN_IMPOSSIBLE = {
    "method_not_supported_for_channel_type",
    "channel_not_found",
    "is_archived",
    "missing_scope",
    "not_allowed_token_type",
    "restricted_action",
}


# Methods that add something each time they run: never re-sent after a 5xx or a lost answer,
# since the first call may have landed. (chat.update, views.*, conversations.* and every read are
# safe to repeat; a views.open trigger_id is single-use, so a repeat cannot open a second modal.)
NOT_REPEATABLE = frozenset(
    {"chat.postMessage", "chat.postEphemeral", "files.completeUploadExternal"}
    | {"chat.startStream", "chat.appendStream", "chat.stopStream"}  # a repeat doubles the text
)


def method_of(request: HttpRequest) -> str:
    """`chat.postMessage` for `https://slack.com/api/chat.postMessage`."""
    return urlparse(request.url).path.rstrip("/").rsplit("/", 1)[-1]


class _RepeatableOnly(AsyncRetryHandler):
    """A retry handler that never re-sends a `NOT_REPEATABLE` method (mixed in first)."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if method_of(request) in NOT_REPEATABLE:
            return False
        return await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


class ServerErrorRetryHandler(_RepeatableOnly, AsyncServerErrorRetryHandler):
    """500 / 503 retried, except for calls that may have landed anyway."""


class ConnectionErrorRetryHandler(_RepeatableOnly, AsyncConnectionErrorRetryHandler):
    """A dropped connection retried, except for calls that may have landed anyway."""


def retry_handlers() -> list[Any]:
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=5),
        ServerErrorRetryHandler(max_retry_count=2),
        ConnectionErrorRetryHandler(max_retry_count=2),
    ]


def webhook_retry_handlers() -> list[Any]:
    """A response_url post shows a message each time it lands: only a 429 (nothing happened)
    is retried."""
    return [AsyncRateLimitErrorRetryHandler(max_retry_count=5)]


def web_client(token: str, api_url: str) -> AsyncWebClient:
    """A Web API client that honours SLACK_API_URL and retries what Slack asks us to retry."""
    client = AsyncWebClient(token=token, base_url=api_url, timeout=HTTP_TIMEOUT_S)
    client.retry_handlers.extend(retry_handlers())
    return client


class SlackPort:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._user_cache: dict[str, dict[str, Any]] = {}
        self._workspace_url: str | None = None
        self._http: aiohttp.ClientSession | None = None
        self._http_key: tuple[asyncio.AbstractEventLoop, float] | None = None
        self._retired: list[aiohttp.ClientSession] = []

    def _session(self) -> aiohttp.ClientSession:
        """One HTTP session (one pool of kept-alive connections) per process and event loop,
        shared by every Web API and response_url call. Without it slack_sdk opens a session, a
        TCP connection and, against Slack, a TLS handshake for every call.

        slack_sdk applies `client.timeout` only to the sessions it makes itself, so the shared
        one carries it, and is replaced (the old one closed at exit) if the timeout changes."""
        loop = asyncio.get_running_loop()
        current = self._http
        timeout = self.client.timeout
        if current is None or current.closed or self._http_key != (loop, timeout):
            if current is not None:
                self._retired.append(current)  # requests may still be in flight on it
            current = self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout)
            )
            self._http_key = (loop, timeout)
        self.client.session = current
        return current

    async def close(self) -> None:
        """Close the shared connections (at process exit)."""
        for session in [*self._retired, self._http]:
            if session is not None and not session.closed:
                await session.close()
        self._http, self._retired = None, []

    async def _call(self, method: str, **kwargs: Any) -> dict[str, Any]:
        """`method` through slack_sdk's typed method (`conversations.replies` →
        `conversations_replies`), so each call is encoded as Slack's spec says it is read."""
        self._session()
        typed = getattr(self.client, method.replace(".", "_"))
        try:
            response = await typed(**_drop_none(kwargs))
        except SlackApiError as exc:
            raise _api_error(method, exc) from None
        except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise SlackError(method, f"unreachable ({type(exc).__name__})") from None
        return dict(response.data) if isinstance(response.data, dict) else {}

    async def post_message(
        self, channel: str, text: str, blocks: Blocks | None = None, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """Post visibly, joining a public channel first if need be. A message too long for one
        post goes out as several, in order; the answer is the last one's (it holds the
        buttons, if any). Raises `NotPostable` when only a person can let Steward in."""
        posted: dict[str, Any] = {}
        for part in split_message(text, blocks):
            posted = await self._post_one(channel, part.text, part.blocks, thread_ts)
        return posted

    async def _post_one(
        self, channel: str, text: str, blocks: Blocks | None, thread_ts: str | None
    ) -> dict[str, Any]:
        args = {
            "channel": channel,
            "text": text,
            "blocks": blocks,
            "thread_ts": thread_ts,
            "unfurl_links": False,
            "unfurl_media": False,
        }
        try:
            return await self._call("chat.postMessage", **args)
        except SlackError as exc:
            if exc.code != "not_in_channel":
                raise _not_postable(exc, channel) from None
        await self.join(channel)
        return await self._call("chat.postMessage", **args)

    async def join(self, channel: str) -> None:
        """Join a public channel (`channels:join`); `NotPostable` when that is not possible."""
        try:
            await self._call("conversations.join", channel=channel)
        except SlackError as exc:
            if exc.code in _JOIN_IMPOSSIBLE:
                log.info("cannot join the channel", extra={"channel": channel, "code": exc.code})
                code = "is_archived" if exc.code == "is_archived" else "not_in_channel"
                raise NotPostable("conversations.join", code, channel) from None
            raise
        log.info("joined a public channel to post in it", extra={"channel": channel})

    async def ensure_postable(self, channel: str) -> None:
        """Make sure a later post to `channel` will land: a member already, or joined now.
        Raises `NotPostable` (with a hint for the person) when Steward cannot get in."""
        try:
            info = await self.conversation(channel)
        except SlackError as exc:
            raise _not_postable(exc, channel) from None
        if info.get("is_archived"):
            raise NotPostable("conversations.info", "is_archived", channel)
        if info.get("is_member") or info.get("is_im"):
            return
        if info.get("is_private") or info.get("is_mpim"):
            raise NotPostable("conversations.info", "not_in_channel", channel)
        await self.join(channel)

    async def post_ephemeral(
        self,
        channel: str,
        user: str,
        text: str,
        blocks: Blocks | None = None,
        thread_ts: str | None = None,
    ) -> dict[str, Any]:
        posted: dict[str, Any] = {}
        for part in split_message(text, blocks):
            posted = await self._call(
                "chat.postEphemeral",
                channel=channel,
                user=user,
                text=part.text,
                blocks=part.blocks,
                thread_ts=thread_ts,
            )
        return posted

    async def update(
        self, channel: str, ts: str, text: str, blocks: Blocks | None = None
    ) -> dict[str, Any]:
        return await self._call("chat.update", channel=channel, ts=ts, text=text, blocks=blocks)

    async def open_dm(self, user: str) -> str:
        data = await self._call("conversations.open", users=user)
        return str(data["channel"]["id"])

    async def publish_home(self, user: str, view: dict[str, Any]) -> None:
        await self._call("views.publish", user_id=user, view=view)

    async def open_view(self, trigger_id: str, view: dict[str, Any]) -> dict[str, Any]:
        return await self._call("views.open", trigger_id=trigger_id, view=view)

    async def user_info(self, user: str) -> dict[str, Any]:
        if user not in self._user_cache:
            data = await self._call("users.info", user=user)
            self._user_cache[user] = dict(data.get("user", {}))
        return self._user_cache[user]

    async def conversation(self, channel: str) -> dict[str, Any]:
        data = await self._call("conversations.info", channel=channel)
        return dict(data.get("channel", {}))

    async def is_member(self, channel: str, user: str) -> bool:
        """Whether `user` is in `channel` (paged through conversations.members)."""
        cursor: str | None = None
        while True:
            data = await self._call(
                "conversations.members", channel=channel, limit=1000, cursor=cursor
            )
            if user in data.get("members", []):
                return True
            cursor = data.get("response_metadata", {}).get("next_cursor") or None
            if not cursor:
                return False

    async def _pages(self, method: str, **args: Any) -> AsyncIterator[list[dict[str, Any]]]:
        """Cursor pages of a history read. A bot reads a public channel only as a member
        (`not_in_channel`), so it joins one on the first page and reads again."""
        cursor: str | None = None
        while True:
            try:
                data = await self._call(method, limit=1000, cursor=cursor, **args)
            except SlackError as exc:
                if exc.code != "not_in_channel" or cursor is not None:
                    raise
                await self.join(str(args["channel"]))
                data = await self._call(method, limit=1000, cursor=cursor, **args)
            yield list(data.get("messages", []))
            cursor = data.get("response_metadata", {}).get("next_cursor") or None
            if not cursor or not data.get("has_more", True):
                return

    async def thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """Every message of the thread containing `ts`, parent first (cursor-paginated).

        Given the ts of a reply, conversations.replies answers that reply alone; its
        `thread_ts` names the parent, whose thread is then read."""
        out: list[dict[str, Any]] = []
        async for page in self._pages("conversations.replies", channel=channel, ts=ts):
            if not out and page:
                parent = str(page[0].get("thread_ts") or ts)
                if parent != ts:
                    return await self.thread(channel, parent)
            out.extend(page)
        return out

    async def history(self, channel: str, oldest: str) -> list[dict[str, Any]]:
        """Top-level messages since `oldest`, oldest first (Slack pages newest first)."""
        out: list[dict[str, Any]] = []
        async for page in self._pages("conversations.history", channel=channel, oldest=oldest):
            out.extend(page)
        out.sort(key=lambda m: float(m.get("ts", "0")))
        return out

    async def workspace_url(self) -> str:
        """e.g. https://acme.slack.com/ — the base of message permalinks."""
        if self._workspace_url is None:
            data = await self._call("auth.test")
            self._workspace_url = str(data.get("url") or "https://slack.com/")
        return self._workspace_url

    async def user_name(self, user: str) -> str:
        """A display name for `user` (cached); the ID itself if Slack does not know them."""
        try:
            info = await self.user_info(user)
        except SlackError:
            return user
        profile = info.get("profile") or {}
        return str(info.get("real_name") or profile.get("display_name") or info.get("name") or user)

    async def respond(
        self, response_url: str, text: str, blocks: Blocks | None = None, *, in_channel=False
    ) -> None:
        """Answer through a slash command's or action's response_url (works in any channel)."""
        hook = AsyncWebhookClient(
            response_url,
            timeout=HTTP_TIMEOUT_S,
            session=self._session(),
            retry_handlers=webhook_retry_handlers(),
        )
        for part in split_message(text, blocks):
            try:
                response = await hook.send(
                    text=part.text,
                    blocks=list(part.blocks) if part.blocks else None,
                    response_type="in_channel" if in_channel else "ephemeral",
                )
            except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
                raise SlackError("response_url", f"unreachable ({type(exc).__name__})") from None
            if response.status_code >= 300:
                raise SlackError("response_url", f"http_{response.status_code}")

    async def tell(self, to: ReplyTo, text: str, blocks: Blocks | None = None) -> None:
        """Show one person a private message: ephemeral in the channel, else through the
        response_url, else by DM (see `ReplyTo`)."""
        if to.channel_id:
            try:
                await self.post_ephemeral(to.channel_id, to.user_id, text, blocks, to.thread_ts)
                return
            except SlackError as exc:
                if exc.code not in NOT_REACHABLE:
                    raise
                log.info("ephemeral not possible; falling back", extra={"code": exc.code})
        if to.response_url:
            await self.respond(to.response_url, text, blocks)
            return
        await self.post_message(await self.open_dm(to.user_id), text, blocks)

    async def upload_files(
        self, channel: str, paths: Sequence[Path], *, initial_comment: str | None = None
    ) -> list[dict[str, Any]]:
        """Upload files into `channel` in one message (files upload v2)."""
        uploads = [{"file": str(path), "filename": path.name, "title": path.name} for path in paths]
        try:
            self._session()
            response = await self.client.files_upload_v2(
                channel=channel,
                file_uploads=uploads,
                initial_comment=initial_comment,
                request_file_info=False,  # files.info adds a call and nothing we use
            )
        except SlackApiError as exc:
            raise _api_error("files.upload_v2", exc) from None
        except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise SlackError("files.upload_v2", f"unreachable ({type(exc).__name__})") from None
        files = response.get("files") if isinstance(response.data, dict) else None
        return list(files or [])

    async def usergroup_members(self, handle: str) -> list[str]:
        """User IDs in the user group `@handle` (usergroups.list, then usergroups.users.list);
        empty when no group has that handle."""
        wanted = handle.lstrip("@").lower()
        data = await self._call("usergroups.list", include_disabled=False)
        group = next(
            (g for g in data.get("usergroups", []) if str(g.get("handle", "")).lower() == wanted),
            None,
        )
        if group is None:
            return []
        members = await self._call("usergroups.users.list", usergroup=group["id"])
        return [str(u) for u in members.get("users", [])]


def _api_error(method: str, exc: SlackApiError) -> SlackError:
    code = str(exc.response.get("error", "unknown_error"))
    needed = exc.response.get("needed")
    if code == "missing_scope":
        log.warning("Slack app lacks a scope", extra={"method": method, "needed": needed})
    return SlackError(method, code, str(needed) if needed else None)


def _not_postable(exc: SlackError, channel: str) -> SlackError:
    """Slack's "you can't post there" errors as `NotPostable`; anything else unchanged."""
    if exc.code in ("channel_not_found", "not_in_channel", "is_archived"):
        return NotPostable(exc.method, exc.code, channel)
    return exc


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
