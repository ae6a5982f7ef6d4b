"""The seeded demo workspace and the workspace's own bookkeeping (no server needed)."""

from __future__ import annotations

import re

from app.sandbox import Workspace, seed_demo_workspace


def test_seed_is_deterministic_and_has_the_launch_thread() -> None:
    first, second = Workspace(), Workspace()
    parent = seed_demo_workspace(first)
    seed_demo_workspace(second)
    assert [m.ts for m in first.channels["C0LAUNCH"].all_messages()] == [
        m.ts for m in second.channels["C0LAUNCH"].all_messages()
    ]
    thread = [parent, *first.channels["C0LAUNCH"].threads[parent.ts].replies]
    assert len(thread) == 40 and parent.reply_count == 39
    texts = " ".join(m.text for m in thread)
    assert re.search(r"[\w.-]+@[\w-]+\.example", texts)
    assert re.search(r"\+1 \d{3} \d{3} \d{4}", texts)
    assert "Decision:" in texts and "Action items" in texts
    assert any(m.reactions for m in thread)
    assert len({m.user for m in thread}) >= 6


def test_seed_people_channels_and_groups() -> None:
    ws = Workspace()
    seed_demo_workspace(ws)
    assert ws.users["U0ADMIN"].is_admin and not ws.users["U0EMP"].is_admin
    assert {"U0MGR1", "U0MGR2"} <= set(ws.users)
    leadership = ws.channels["C0LEADERSHIP"]
    assert leadership.is_private and "U0EMP" not in leadership.members
    assert "C0APPROVALS" in ws.channels and ws.channels["D0EMP"].is_im
    legal = ws.usergroup_by_handle("@legal-team")
    assert legal is not None and legal.users == ["U0LEGAL"]


def test_delete_reply_keeps_parent_counts_right() -> None:
    ws = Workspace()
    seed_demo_workspace(ws)
    parent = ws.channels["C0LAUNCH"].top[0]
    last = ws.channels["C0LAUNCH"].threads[parent.ts].replies[-1]
    ws.delete_message("C0LAUNCH", last.ts)
    assert parent.reply_count == 38
    assert parent.latest_reply == ws.channels["C0LAUNCH"].threads[parent.ts].keys[-1]


def test_reply_to_a_reply_joins_the_parent_thread() -> None:
    ws = Workspace()
    seed_demo_workspace(ws)
    parent = ws.channels["C0LAUNCH"].top[0]
    reply = ws.channels["C0LAUNCH"].threads[parent.ts].replies[3]
    nested = ws.add_message("C0LAUNCH", "late", user="U0EMP", thread_ts=reply.ts)
    assert nested.thread_ts == parent.ts and parent.reply_count == 40
