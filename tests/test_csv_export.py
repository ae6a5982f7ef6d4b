"""CSV exports never hand a spreadsheet a live formula (OWASP's CSV injection rule); JSONL keeps
every value exactly as stored."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from app.audit.export import FORMULA_STARTS, csv_cell
from tests.e2e import ADMIN, EMPLOYEE, GENERAL, Stack, running_stack
from tests.test_audit_cli import steward
from tests.test_e2e_draft import drafts_for, interaction_of, new_draft, write_policy

FORMULA = "=cmd|' /C calc'!A0"
POLICY = """
admins: [U0ADMIN]
groups:
  managers: [U0MGR1]
use_cases:
  draft:
    channels: ["*"]
"""


@pytest.fixture
async def stack(redis_url: str, redis_sync: object, tmp_path: Path) -> AsyncIterator[Stack]:
    policy = write_policy(tmp_path, POLICY)
    async with running_stack(redis_url, tmp_path, steward_policy=str(policy)) as running:
        yield running


def rows_of(data: bytes | str) -> list[dict[str, str]]:
    text = data.decode() if isinstance(data, bytes) else data
    return list(csv.DictReader(io.StringIO(text)))


async def test_an_edited_formula_is_text_in_the_export_file_and_the_cli_csv(
    stack: Stack, redis_url: str, redis_sync: redis.Redis, tmp_path: Path
) -> None:
    sb = stack.sandbox
    draft = await new_draft(stack, "announce the hackathon", channel=GENERAL)
    interaction = interaction_of(draft)
    await sb.user(EMPLOYEE).click("Edit", in_=draft)
    await sb.wait_for(lambda: sb.user(EMPLOYEE).modal)
    await sb.user(EMPLOYEE).submit({"Draft text": FORMULA})
    await sb.wait_for(lambda: [d for d in drafts_for(sb) if "calc" in json.dumps(d.blocks)])

    admin = sb.user(ADMIN)
    await admin.command("/steward", "audit", channel=GENERAL)
    listing = await sb.wait_for(
        lambda: next((e for e in sb.ephemerals(user=ADMIN) if "Audit:" in e.text), None)
    )
    await admin.click("Export", in_=listing)
    dm = sb.workspace.open_im(ADMIN).id
    files = await sb.wait_for(
        lambda: [f for f in sb.workspace.files.values() if dm in f.channels] or None
    )
    by_suffix = {Path(f.name).suffix: f.content or b"" for f in files}
    edited = [r for r in rows_of(by_suffix[".csv"]) if r["event"] == "edited"]
    assert [r["output"] for r in edited] == ["'" + FORMULA]
    assert [r["interaction_id"] for r in edited] == [interaction]
    lines = [json.loads(x) for x in by_suffix[".jsonl"].decode().splitlines()]
    assert [x["output"] for x in lines if x["event"] == "edited"] == [FORMULA]  # as stored

    done = steward(redis_url, tmp_path, "audit", "export", "--format", "csv")
    assert done.returncode == 0, done.stderr
    cli_edited = [r for r in rows_of(done.stdout) if r["event"] == "edited"]
    assert [r["output"] for r in cli_edited] == ["'" + FORMULA]
    assert not any(v.startswith(FORMULA_STARTS) for r in rows_of(done.stdout) for v in r.values())
    jsonl = steward(redis_url, tmp_path, "audit", "export", "--format", "jsonl")
    outputs = [json.loads(x).get("output") for x in jsonl.stdout.splitlines()]
    assert FORMULA in outputs


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+1 555", "'+1 555"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("fine = ok", "fine = ok"),
        ("", ""),
        (None, ""),
        (-0.5, "-0.5"),  # a number is not a formula
        (-3, "-3"),
        ({"a": "=x"}, '{"a":"=x"}'),  # JSON cells start with { or [
        (["=x"], '["=x"]'),
    ],
)
def test_csv_cell(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


@given(st.text())
def test_no_text_cell_starts_a_formula_and_none_loses_its_text(text: str) -> None:
    cell = csv_cell(text)
    assert not cell.startswith(FORMULA_STARTS)
    assert cell in (text, "'" + text)
