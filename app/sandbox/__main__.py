"""``python -m app.sandbox``: a standalone seeded sandbox, for poking at it by hand."""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from .seed import seed_demo_workspace
from .server import Sandbox


async def _serve(args: argparse.Namespace) -> None:
    sandbox = Sandbox(
        signing_secret=args.signing_secret,
        bot_token=args.bot_token,
        app_token=args.app_token,
        app_url=args.app_url,
    )
    seed_demo_workspace(sandbox.workspace)
    await sandbox.start(args.host, args.port)
    print(f"Slack sandbox listening; SLACK_API_URL={sandbox.api_url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run a seeded local Slack sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--signing-secret", default="sandbox-signing-secret")
    parser.add_argument("--bot-token", default="xoxb-sandbox")
    parser.add_argument("--app-token", default="xapp-sandbox")
    parser.add_argument("--app-url", default=None, help="the app's request URL, for deliveries")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
