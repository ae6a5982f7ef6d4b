"""The `steward` command line.

This module is the composition root: the only place in `app/` that reaches for the Slack
transports in `handlers/` (imported lazily, per command), so the core itself never imports Bolt.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Sequence

from app import logs
from app.queue import QueueConfig
from app.settings import ConfigError, Settings, load_settings
from app.store import RedisTarget, open_redis


def _queue_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--visibility-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds without a heartbeat before another worker takes a job over (default 30)",
    )
    parser.add_argument(
        "--max-attempts",
        type=int,
        default=5,
        metavar="N",
        help="runs of a failing job before it is dead-lettered and the user told (default 5)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=8, metavar="N", help="jobs per worker at once"
    )


def _queue_config(args: argparse.Namespace) -> QueueConfig:
    return QueueConfig(
        visibility_timeout=args.visibility_timeout,
        max_attempts=args.max_attempts,
        concurrency=args.concurrency,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="steward", description="Steward: a governed AI assistant for Slack."
    )
    parser.add_argument("--log-level", default=os.environ.get("STEWARD_LOG_LEVEL", "INFO"))
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="HTTP mode: Slack requests at POST /slack/events")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "3000")))
    serve.add_argument("--no-workers", action="store_true", help="do not run jobs here")
    _queue_options(serve)

    socket_ = sub.add_parser("socket", help="Socket Mode (needs SLACK_APP_TOKEN)")
    _queue_options(socket_)

    worker = sub.add_parser("worker", help="run job workers only")
    worker.add_argument("--workers", type=int, default=1, help="consumers in this process")
    _queue_options(worker)

    demo = sub.add_parser("demo", help="the whole product against a local Slack sandbox")
    demo.add_argument("--quiet", action="store_true", help="print only the final summary line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logs.configure(args.log_level.upper())
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "serve": cmd_serve,
        "socket": cmd_socket,
        "worker": cmd_worker,
        "demo": cmd_demo,
    }
    try:
        return commands[args.command](args)
    except ConfigError as exc:
        print(f"steward: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _announce(target: RedisTarget) -> None:
    print(f"steward: storage: {target.description}", file=sys.stderr)


def _prepare(*required: str) -> tuple[Settings, RedisTarget]:
    settings = load_settings()
    settings.require(*required)
    target = open_redis(settings)
    _announce(target)
    return settings, target


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.runtime import Runtime
    from handlers.http import build_asgi

    settings, target = _prepare("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
    try:
        runtime = Runtime(settings, target.url, _queue_config(args))
        asgi = build_asgi(runtime, workers=0 if args.no_workers else 1)
        print(
            f"steward: serving Slack requests on http://{args.host}:{args.port}/slack/events",
            file=sys.stderr,
        )
        config = uvicorn.Config(
            asgi,
            host=args.host,
            port=args.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            log_config=None,
        )
        uvicorn.Server(config).run()
    finally:
        target.close()
    return 0


def _run_until_signalled(body: Callable[[asyncio.Event], object]) -> None:
    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await body(stop)  # type: ignore[misc]

    asyncio.run(runner())


def cmd_socket(args: argparse.Namespace) -> int:
    from app.runtime import Runtime
    from handlers.socket import run_socket

    settings, target = _prepare("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")
    try:
        runtime = Runtime(settings, target.url, _queue_config(args))
        print("steward: connecting to Slack in Socket Mode", file=sys.stderr)
        _run_until_signalled(lambda stop: run_socket(runtime, stop))
    finally:
        target.close()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from app.runtime import Runtime

    settings, target = _prepare("SLACK_BOT_TOKEN")

    async def work(stop: asyncio.Event) -> None:
        runtime = Runtime(settings, target.url, _queue_config(args))
        runtime.start_workers(args.workers)
        print(f"steward: worker running ({args.workers} consumer(s))", file=sys.stderr)
        await stop.wait()
        await runtime.close()

    try:
        _run_until_signalled(work)
    finally:
        target.close()
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from app.demo import run_demo

    return run_demo(quiet=args.quiet)


if __name__ == "__main__":
    raise SystemExit(main())
