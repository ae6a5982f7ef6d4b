"""`steward demo` is the product's own end-to-end walk: it must complete on a clean data dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_plays_every_scene_and_exits_zero(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_"))}
    env.update({"PYTHONPATH": str(ROOT), "STEWARD_DATA_DIR": str(tmp_path / "data")})
    env.pop("REDIS_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "demo"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "Demo finished" in out
    assert "◀ Steward publishes the Home tab" in out
    assert "Summarising 40 messages" in out  # summarise
    assert "approved by Marcus Chen" in out  # draft → approve → posted
    assert "AI paused by admins (incident review)" in out  # the off switch
    assert "intact hash chain" in out  # audit
    assert "Traceback" not in result.stderr
