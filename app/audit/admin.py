"""Admin review in Slack: `/steward audit`, its Export button, and `/steward usage`.

Only the policy's `admins` may use them; anyone else gets a private refusal and a `refused`
audit event. Every check runs here, in the job, so a forged button click is refused too.
"""

from __future__ import annotations

import csv
import logging
import re
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from pydantic import BaseModel, Field, ValidationError

from app.audit.admin_view import audit_message
from app.audit.event import ApprovalStatus, utcnow
from app.audit.export import CSV_COLUMNS, csv_cell
from app.audit.log import AuditLog
from app.audit.pricing import PricesError, load_prices
from app.audit.query import AuditFilters
from app.audit.state import InteractionState
from app.audit.usage import usage_report
from app.audit.usage_view import usage_message
from app.governance.admins import require_role
from app.governance.durations import format_duration, parse_duration
from app.runtime.services import Services
from app.slack.port import SlackError
from app.slack.reply import ReplyTo

if TYPE_CHECKING:  # app/commands.py registers the subcommands; the typed command is a leaf
    from app.steward_command import StewardCommand

log = logging.getLogger(__name__)

AUDIT_USAGE = (
    "Usage: `/steward audit [@user] [#channel] [status] [7d]` — e.g. "
    "`/steward audit @priya #launch pending 30d`. Status is one of "
    "not_required, pending, approved, rejected, escalated, expired, withdrawn, refused, failed."
)
USAGE_USAGE = "Usage: `/steward usage [7d]` — a window of 1 to 365 days (default 7)."
DEFAULT_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=365)
LISTED = 20  # interactions shown by /steward audit
SCAN_LIMIT = 20_000  # events read at most to find them (the indexes make this rare)
STATUSES: frozenset[str] = frozenset(get_args(ApprovalStatus)) | {"refused", "failed"}

USER_REF = re.compile(r"^<@(?P<id>[UW][A-Z0-9]+)(?:\|[^>]*)?>$")
CHANNEL_REF = re.compile(r"^<#(?P<id>[CGD][A-Z0-9]+)(?:\|[^>]*)?>$")
BARE_USER = re.compile(r"^@?(?P<id>[UW][A-Z0-9]{2,})$")
BARE_CHANNEL = re.compile(r"^#?(?P<id>[CG][A-Z0-9]{2,})$")


class ArgsError(ValueError):
    """What someone typed is not a valid command; the message says why, usage follows."""


class AuditQuery(BaseModel):
    """Which interactions `/steward audit` lists (and its Export exports)."""

    user: str | None = None
    channel: str | None = None
    status: str | None = None
    window_seconds: int = Field(default=int(DEFAULT_WINDOW.total_seconds()), ge=1)

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.window_seconds)

    def describe(self) -> str:
        seconds = self.window_seconds
        span = f"{seconds // 86400} days" if seconds % 86400 == 0 else format_duration(self.window)
        parts = [f"the last {span}"]
        if self.user:
            parts.append(f"involving <@{self.user}>")
        if self.channel:
            parts.append(f"in <#{self.channel}>")
        if self.status:
            parts.append(f"with status {self.status}")
        return " ".join(parts)

    def filters(self) -> AuditFilters:
        """Event filters for the window (user/channel narrow through the indexes)."""
        return AuditFilters(since=utcnow() - self.window, user=self.user, channel=self.channel)

    def keeps(self, state: InteractionState | None) -> bool:
        """Whether an interaction (by its latest state) belongs in the list."""
        if state is None or not state.use_case:
            return False
        if self.user and self.user not in (state.actor_id, state.approver_id):
            return False
        if self.channel and state.channel_id != self.channel:
            return False
        return not self.status or self.status in (state.approval_status, state.event)


def _window(word: str) -> timedelta | None:
    """`7d`, `2w`, `12h`: a window; None when the word is not a duration."""
    try:
        window = parse_duration(word)
    except ValueError:
        return None
    if not timedelta(hours=1) <= window <= MAX_WINDOW:
        raise ArgsError(f"`{word[:20]}` is outside 1h to 365d.")
    return window


def parse_audit_args(words: list[str]) -> AuditQuery:
    """`[@user] [#channel] [status] [7d]` in any order. Raises ArgsError."""
    found: dict[str, Any] = {}

    def put(key: str, value: Any, word: str) -> None:
        if key in found:
            raise ArgsError(f"Only one {key} please (`{word[:40]}` is a second one).")
        found[key] = value

    for word in words:
        lowered = word.lower().replace("-", "_")
        if match := USER_REF.match(word) or BARE_USER.match(word):
            put("user", match["id"], word)
        elif match := CHANNEL_REF.match(word) or BARE_CHANNEL.match(word):
            put("channel", match["id"], word)
        elif lowered in STATUSES:
            put("status", lowered, word)
        elif (window := _window(lowered)) is not None:
            put("window", window, word)
        elif word.startswith("@"):
            raise ArgsError(f"`{word[:40]}`: pick the person from the @ menu so Slack links them.")
        elif word.startswith("#"):
            raise ArgsError(f"`{word[:40]}`: pick the channel from the # menu so Slack links it.")
        else:
            raise ArgsError(f"I don't understand `{word[:40]}`.")
    window = found.pop("window", DEFAULT_WINDOW)
    return AuditQuery(window_seconds=int(window.total_seconds()), **found)


def parse_usage_args(words: list[str]) -> int:
    """`[7d]` (or `2w`, `30`): the window in whole days. Raises ArgsError."""
    if not words:
        return 7
    if len(words) > 1:
        raise ArgsError("Give one window, like `7d` or `30d`.")
    word = words[0].lower()
    text = word + "d" if word.isdigit() else word
    try:
        window = parse_duration(text)
    except ValueError:
        raise ArgsError(f"`{word[:20]}` is not a window of days.") from None
    days = window.total_seconds() / 86400
    if days != int(days) or not 1 <= days <= 365:
        raise ArgsError(f"`{word[:20]}` must be whole days, 1 to 365.")
    return int(days)


async def matching_interactions(
    audit: AuditLog, query: AuditQuery, limit: int = LISTED
) -> tuple[list[InteractionState], bool]:
    """The matching interactions' latest states, newest first; and whether more exist."""
    found: list[InteractionState] = []
    seen: set[str] = set()
    batch: list[str] = []  # new interaction ids, newest first, awaiting one pipelined read

    async def settle() -> bool:
        """Read the batch's states; True once more than `limit` match."""
        for state in await audit.states(batch):
            if state is not None and query.keeps(state):
                if len(found) >= limit:
                    return True
                found.append(state)
        batch.clear()
        return False

    scanned = 0
    async for event in audit.iter_recent(query.filters()):
        scanned += 1
        if event.interaction_id not in seen:
            seen.add(event.interaction_id)
            batch.append(event.interaction_id)
        if len(batch) >= 50 and await settle():
            return found, True
        if scanned >= SCAN_LIMIT:  # stop reading; older interactions may still match
            await settle()
            return found, True
    return found, await settle()


async def run_audit(services: Services, reply_to: ReplyTo, cmd: StewardCommand) -> None:
    """`/steward audit [@user] [#channel] [status] [7d]`."""
    if not await require_role(
        services, reply_to, cmd.team_id, cmd.name, "review AI interactions", action="audit.read"
    ):
        return
    try:
        query = parse_audit_args(cmd.args)
    except ArgsError as exc:
        await services.slack.tell(reply_to, f"{exc} {AUDIT_USAGE}")
        return
    states, more = await matching_interactions(services.audit, query)
    msg = audit_message(states, query.describe(), query.model_dump_json(exclude_none=True), more)
    await services.slack.tell(reply_to, msg.text, msg.blocks)


async def run_usage(services: Services, reply_to: ReplyTo, cmd: StewardCommand) -> None:
    """`/steward usage [7d]`: the dashboard numbers, privately."""
    if not await require_role(
        services, reply_to, cmd.team_id, cmd.name, "review AI usage", action="usage.read"
    ):
        return
    try:
        days = parse_usage_args(cmd.args)
        prices = load_prices(services.settings.steward_data_dir)
    except ArgsError as exc:
        await services.slack.tell(reply_to, f"{exc} {USAGE_USAGE}")
        return
    except PricesError as exc:
        await services.slack.tell(reply_to, f":warning: The price table is malformed: {exc}")
        return
    report = await usage_report(services.audit, days, prices)
    msg = usage_message(report)
    await services.slack.tell(reply_to, msg.text, msg.blocks)


# ---- Export ------------------------------------------------------------------------------


class AuditExportRequest(BaseModel):
    """The Export button under `/steward audit`: `query` is the button's value, as sent."""

    user_id: str
    team_id: str
    query: str
    channel_id: str | None = None
    response_url: str | None = None


async def run_audit_export(services: Services, req: AuditExportRequest) -> None:
    reply_to = ReplyTo.of(req)
    if not await require_role(
        services,
        reply_to,
        req.team_id,
        "/steward audit export",
        "export the audit trail",
        action="audit.export",
    ):
        return
    try:
        query = AuditQuery.model_validate_json(req.query)
    except ValidationError:
        await services.slack.tell(reply_to, "That Export button is out of date. " + AUDIT_USAGE)
        return
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")
    with tempfile.TemporaryDirectory(prefix="steward-export-") as tmp:
        jsonl, csv_path = Path(tmp) / f"audit-{stamp}.jsonl", Path(tmp) / f"audit-{stamp}.csv"
        count = await write_export(services.audit, query, jsonl, csv_path)
        comment = f"Audit export: {count} event(s), {query.describe()}."
        try:
            dm = await services.slack.open_dm(req.user_id)
            await services.slack.upload_files(dm, [jsonl, csv_path], initial_comment=comment)
        except SlackError as exc:
            log.warning("audit export upload failed", extra={"code": exc.code})
            await services.slack.tell(
                reply_to, f":warning: Slack refused the upload (`{exc.code}`)."
            )
            return
    log.info("audit exported", extra={"user_id": req.user_id, "events": count})
    sent = f":inbox_tray: Sent {count} audit event(s) to your DM, as JSONL and CSV."
    await services.slack.tell(reply_to, sent)


async def write_export(audit: AuditLog, query: AuditQuery, jsonl: Path, csv_path: Path) -> int:
    """Every event of the matching interactions, oldest first, streamed to JSONL (as stored,
    hashes included) and CSV at once."""
    decided: dict[str, bool] = {}  # interaction id -> whether it matches (one state read each)
    filters = AuditFilters(since=utcnow() - query.window, channel=query.channel)
    count = 0
    with jsonl.open("w", encoding="utf-8") as jf, csv_path.open("w", encoding="utf-8") as cf:
        writer = csv.writer(cf, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        async for text, data in audit.export_stored(filters):
            iid = str(data.get("interaction_id", ""))
            if iid not in decided:
                decided[iid] = query.keeps(await audit.state(iid))
            if not decided[iid]:
                continue
            jf.write(text + "\n")
            writer.writerow([csv_cell(data.get(column)) for column in CSV_COLUMNS])
            count += 1
    return count
