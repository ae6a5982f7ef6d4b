"""The demo workspace: Acme, its people and channels, and a long launch thread worth summarising.

Everything is deterministic (fixed IDs and timestamps) so demo output and tests are repeatable.
"""

from __future__ import annotations

from typing import Any

from .records import Message, ts_from_micros
from .workspace import Workspace

BASE_MICROS = 1_732_460_000 * 1_000_000

PEOPLE: list[tuple[str, str, str, str, dict[str, Any]]] = [
    # id, handle, real name, title, extra User fields
    ("U0EMP", "priya.raman", "Priya Raman", "Product Marketing Manager", {}),
    ("U0MGR1", "marcus.chen", "Marcus Chen", "Engineering Manager", {}),
    ("U0MGR2", "elena.garcia", "Elena Garcia", "Director of Product Marketing", {}),
    ("U0ADMIN", "sam.okafor", "Sam Okafor", "IT Administrator", {"is_admin": True}),
    ("U0LEGAL", "rachel.kim", "Rachel Kim", "Senior Counsel", {"tz": "America/New_York"}),
    ("U0ENG", "tom.becker", "Tom Becker", "Staff Engineer", {"tz": "Europe/Berlin"}),
    ("U0DES", "aiko.tanaka", "Aiko Tanaka", "Product Designer", {}),
    ("U0SUP", "dev.patel", "Dev Patel", "Support Lead", {"tz": "Europe/London"}),
]

EVERYONE = [p[0] for p in PEOPLE]

PUBLIC_NOT_JOINED = "C0RANDOM"  # public; Steward is not a member
PRIVATE_NOT_INVITED = "C0PEOPLEOPS"  # private; Steward was never invited
ARCHIVED = "C0OLDLAUNCH"  # archived; Steward is a member

LAUNCH_PARENT = (
    "U0MGR2",
    "Kicking off the launch thread for *Acme Insights 3.0* :rocket: Target is Tuesday Dec 10. "
    "Please put status, blockers and decisions here so we have one place to look.",
)

LAUNCH_REPLIES: list[tuple[str, str]] = [
    (
        "U0EMP",
        "Thanks Elena! Marketing side: blog post draft is done, press release is with "
        "the agency, landing page is ~80% there.",
    ),
    (
        "U0ENG",
        "Eng status: feature complete as of yesterday. Remaining: load test on the new "
        "query planner and two P2 bugs in the dashboard filters.",
    ),
    (
        "U0MGR1",
        "How confident are we on the load test finishing this week? Last time it "
        "took three attempts.",
    ),
    (
        "U0ENG",
        "Fair question. The staging cluster is finally sized like prod, so I expect one "
        "run plus one re-run. I'd say Friday EOD.",
    ),
    (
        "U0DES",
        "Design: the new onboarding flow is final. Screenshots for the blog are in the "
        "shared drive under Launch/Assets.",
    ),
    (
        "U0SUP",
        "Support needs the FAQ and the known-issues list at least 3 business days "
        "before launch so we can train the tier-1 team.",
    ),
    (
        "U0EMP",
        "Dev, I'll have the FAQ to you by Wednesday. Known issues will depend on the bug bash.",
    ),
    (
        "U0MGR2",
        "Open question: do we need legal review of the new pricing page? The "
        "usage-based tier is new.",
    ),
    (
        "U0LEGAL",
        "Yes please, anything with pricing or usage limits needs a look. Send it to "
        "me and copy legal-review@acme.example so it gets logged.",
    ),
    ("U0EMP", "Will do. Rachel, is 48h turnaround realistic?"),
    (
        "U0LEGAL",
        "48h is fine if it arrives before Thursday noon. After that it slips to next "
        "week, I'm out Friday.",
    ),
    (
        "U0MGR1",
        "Proposal: we drop CSV export from the launch scope. It's the riskiest piece "
        "and only 4 beta customers asked for it.",
    ),
    ("U0EMP", "Hmm, two of those four are in the case study though :grimacing:"),
    (
        "U0MGR2",
        "Let's ship without it and tell those two customers directly. A late CSV "
        "export beats a broken launch.",
    ),
    ("U0MGR1", "Decision: CSV export moves to 3.1 (target January). I'll update the roadmap."),
    ("U0DES", "Noted, I'll remove the export button from the launch screenshots."),
    ("U0ENG", "Bug bash is Thursday 2-4pm PT. Everyone who can click things, please come :pray:"),
    ("U0SUP", "I'll bring two people from support, they find the weird ones."),
    (
        "U0ADMIN",
        "Reminder that the beta tenant gets migrated Sunday night. If anyone needs "
        "the migration runbook ping me, or call the on-call line at +1 415 555 0134.",
    ),
    ("U0MGR1", "Sam, does the migration need a change freeze on Monday?"),
    ("U0ADMIN", "A soft freeze until noon Monday would be good. No schema changes."),
    ("U0MGR2", "Decision: soft change freeze Monday until 12:00 PT."),
    (
        "U0EMP",
        "Open question: who owns the status page update on launch day? Last launch it "
        "fell between support and eng.",
    ),
    ("U0SUP", "Support can own it if eng gives us a heads-up 30 min before the flag flip."),
    ("U0ENG", "Deal. I'll post in #launch before flipping the flag."),
    ("U0MGR2", "Great, Dev owns the status page then."),
    (
        "U0ENG",
        "Load test update: first run done. p95 latency 410ms against a 500ms budget. "
        "One memory spike on the planner that I want to understand before signing off.",
    ),
    ("U0MGR1", "Nice. Is the memory spike a launch blocker in your view?"),
    ("U0ENG", "Not yet. If it reproduces on the re-run it is. I'll know by Friday midday."),
    (
        "U0EMP",
        "Press release embargo lifts 9am ET on the 10th. Agency contact is "
        "jordan@brightline-pr.example if anyone needs them directly.",
    ),
    (
        "U0LEGAL",
        'Pricing page reviewed. Two edits: say "up to" for the included queries '
        "and link the fair-use policy. Otherwise good to go.",
    ),
    ("U0EMP", "Edits made, thanks Rachel! :tada:"),
    (
        "U0DES",
        "Is anyone looking at the email template for existing customers? It still "
        "mentions the old plan names.",
    ),
    ("U0EMP", "Good catch, that's mine. Fixing today."),
    (
        "U0MGR2",
        "Action items so far: Tom - load test re-run by Fri; Priya - FAQ to Dev by "
        "Wed and fix customer email; Marcus - roadmap update for CSV export; Dev - status page "
        "on launch day; Sam - beta migration Sunday.",
    ),
    ("U0MGR1", "Still open: go/no-go meeting time. Monday 3pm PT works for me."),
    ("U0SUP", "Monday 3pm works. Can we keep it to 30 minutes?"),
    ("U0MGR2", "Booked Monday 3-3:30pm PT for go/no-go. If the re-run is clean we go."),
    (
        "U0ENG",
        "Re-run is clean, memory spike was a test harness leak, not the planner. "
        "Signing off on perf :white_check_mark:",
    ),
]

REACTIONS = {
    12: [{"name": "grimacing", "users": ["U0MGR1"], "count": 1}],
    14: [{"name": "+1", "users": ["U0MGR2", "U0EMP", "U0DES"], "count": 3}],
    31: [{"name": "tada", "users": ["U0LEGAL", "U0MGR2"], "count": 2}],
    38: [{"name": "raised_hands", "users": ["U0MGR1", "U0MGR2", "U0SUP", "U0EMP"], "count": 4}],
}


class _Clock:
    """Deterministic, increasing seed timestamps a little over a minute apart."""

    def __init__(self) -> None:
        self.micros = BASE_MICROS

    def next(self, step_seconds: int = 73) -> str:
        self.micros += step_seconds * 1_000_000 + 100
        return ts_from_micros(self.micros)


def _seed_people(ws: Workspace) -> None:
    for user_id, handle, real_name, title, extra in PEOPLE:
        ws.add_user(
            user_id,
            handle,
            real_name,
            title=title,
            email=f"{handle}@acme.example",
            **extra,
        )


def _seed_channels(ws: Workspace) -> None:
    ws.add_channel("C0GENERAL", "general", members=EVERYONE, topic="Company-wide announcements")
    ws.add_channel("C0LAUNCH", "launch", members=EVERYONE, topic="Acme Insights 3.0 launch")
    ws.add_channel("C0PUBLIC", "announcements", members=EVERYONE)
    ws.add_channel(
        "C0LEADERSHIP",
        "leadership",
        private=True,
        members=["U0MGR1", "U0MGR2", "U0ADMIN", "U0LEGAL"],
    )
    ws.add_channel("C0APPROVALS", "approvals", members=["U0MGR1", "U0MGR2", "U0LEGAL", "U0ADMIN"])
    ws.open_im("U0EMP", channel_id="D0EMP")
    # Conversations that exercise Slack's membership rules (see api_chat._postable): a public
    # channel Steward has not joined, a private channel it was never invited to, an archived one.
    ws.add_channel(PUBLIC_NOT_JOINED, "random", members=EVERYONE, bot_member=False)
    ws.add_channel(
        PRIVATE_NOT_INVITED, "people-ops", private=True, members=["U0ADMIN", "U0MGR2"],
        bot_member=False,
    )  # fmt: skip
    ws.add_channel(ARCHIVED, "launch-2023", members=EVERYONE, archived=True)
    ws.add_usergroup("S0LEGAL", "legal-team", "Legal", ["U0LEGAL"])
    ws.add_usergroup("S0MANAGERS", "managers", "Managers", ["U0MGR1", "U0MGR2"])


def _seed_messages(ws: Workspace, clock: _Clock) -> Message:
    ws.add_message(
        "C0GENERAL",
        "Welcome to Acme! Steward is now available: try /summarize in any thread.",
        user="U0ADMIN",
        ts=clock.next(),
    )
    ws.add_message(
        "C0LEADERSHIP",
        "Q4 headcount plan is in the leadership folder. Please review before Thursday.",
        user="U0MGR2",
        ts=clock.next(),
    )
    parent = ws.add_message("C0LAUNCH", LAUNCH_PARENT[1], user=LAUNCH_PARENT[0], ts=clock.next())
    for index, (user, text) in enumerate(LAUNCH_REPLIES, start=1):
        message = ws.add_message(
            "C0LAUNCH", text, user=user, thread_ts=parent.ts, ts=clock.next(61 + index * 7)
        )
        message.reactions = list(REACTIONS.get(index, []))
    ws.add_message(
        "C0LAUNCH",
        "Reminder: bug bash Thursday 2-4pm PT, snacks provided :cookie:",
        user="U0ENG",
        ts=clock.next(),
    )
    ws.add_message(
        "D0EMP",
        "Hi! I'm Steward. Ask me to summarise or draft anything.",
        bot=True,
        ts=clock.next(),
    )
    return parent


def seed_demo_workspace(workspace: Workspace) -> Message:
    """Fill ``workspace`` with the Acme demo data; returns the #launch thread's parent message."""
    workspace.team_id, workspace.team_name, workspace.domain = "T0STEWARD", "Acme", "acme"
    _seed_people(workspace)
    _seed_channels(workspace)
    return _seed_messages(workspace, _Clock())
