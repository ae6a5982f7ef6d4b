"""The `steward` command line.

This module is the composition root: the only place in `app/` that reaches for the Slack
transports in `handlers/` (imported lazily, per command), so the core itself never imports Bolt.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from app import policy_cli
from app.audit import cli_attest as attest
from app.audit import holds
from app.evaluation import command as evaluation
from app.runtime import logs
from app.runtime.queue import QueueConfig
from app.runtime.settings import ConfigError, Settings, load_settings
from app.runtime.store import RedisTarget, open_redis


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


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _port(text: str) -> int:
    """A TCP port, 1 to 65535 (argparse shows the message on one line and exits 2)."""
    if not text.strip().isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1 to 65535)")
    return int(text)


def _health_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--health-port",
        type=_port,
        metavar="P",
        help="serve GET /healthz and GET /metrics on this port (default: none)",
    )
    parser.add_argument("--health-host", default="0.0.0.0", metavar="H", help=argparse.SUPPRESS)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="steward", description="Steward: a governed AI assistant for Slack."
    )
    parser.add_argument(
        "--log-level",
        default=os.environ.get("STEWARD_LOG_LEVEL", "INFO"),
        metavar="LEVEL",
        help=f"one of {', '.join(LOG_LEVELS)} (default: $STEWARD_LOG_LEVEL, else INFO)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="HTTP mode: Slack requests at POST /slack/events")
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=_port, default=None, help="default: $PORT, else 3000")
    serve.add_argument("--no-workers", action="store_true", help="do not run jobs here")
    serve.add_argument(
        "--processes",
        type=int,
        default=1,
        metavar="N",
        help="serve processes sharing the port (default 1; use one per core for acks)",
    )
    _queue_options(serve)

    socket_ = sub.add_parser("socket", help="Socket Mode (needs SLACK_APP_TOKEN)")
    _queue_options(socket_)
    _health_option(socket_)

    worker = sub.add_parser("worker", help="run job workers only")
    worker.add_argument("--workers", type=int, default=1, help="consumers in this process")
    _queue_options(worker)
    _health_option(worker)
    _audit_parsers(sub)

    demo = sub.add_parser("demo", help="the whole product against a local Slack sandbox")
    demo.add_argument("--quiet", action="store_true", help="print only the final summary line")

    sub.add_parser(
        "doctor",
        help="check a real deployment: token and scopes, channels, model, Redis (exit 0/1/2)",
    )

    evaluation.add_parser(sub)  # steward eval
    policy_cli.add_parsers(sub)  # policy check, ids
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = str(args.log_level).upper()
    if level not in LOG_LEVELS:
        print(
            f"steward: --log-level (or STEWARD_LOG_LEVEL) must be one of {', '.join(LOG_LEVELS)}.",
            file=sys.stderr,
        )
        return 2
    logs.configure(level)
    commands: dict[str, Callable[[argparse.Namespace], int]] = {
        "serve": cmd_serve,
        "socket": cmd_socket,
        "worker": cmd_worker,
        "audit": cmd_audit,
        "usage": cmd_usage,
        "demo": cmd_demo,
        "policy": policy_cli.cmd_policy,
        "ids": policy_cli.cmd_ids,
        "doctor": cmd_doctor,
        "eval": evaluation.run,
    }
    try:
        return commands[args.command](args)
    except ConfigError as exc:
        print(f"steward: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `steward audit export | head`: the reader has all it wanted
        _silence_stdout()
        return 141  # as if killed by SIGPIPE, like any other command in a pipeline


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _announce(target: RedisTarget) -> None:
    print(f"steward: storage: {target.description}", file=sys.stderr)


def _prepare(*required: str) -> tuple[Settings, RedisTarget]:
    settings = load_settings()
    settings.require(*required)
    target = open_redis(settings)
    _announce(target)
    return settings, target


def _serve_port(args: argparse.Namespace) -> int:
    if args.port is not None:
        return int(args.port)
    value = os.environ.get("PORT", "").strip() or "3000"
    try:
        return _port(value)
    except argparse.ArgumentTypeError:
        raise ConfigError(
            "PORT is malformed (not a port number): set it to a whole number from 1 to 65535, "
            "or pass --port."
        ) from None


def _startup_checks(settings: Settings) -> None:
    """What must hold before a process says it is running: the policy loads, the audit sinks
    are complete, and Slack accepts the bot token (`auth.test`). Each failure is a ConfigError
    (one line, exit 2)."""
    from app.audit.sinks import configured_sinks
    from app.names_cli import startup_problem
    from app.runtime.process import load_startup_policy
    from app.slack.token_check import check_bot_token

    policy = load_startup_policy(settings)
    configured_sinks(settings)  # a Splunk URL without its token, say
    token_warning = check_bot_token(settings)
    for warning in (token_warning, startup_problem(settings, policy)):  # #names, once the token
        if warning:
            print(f"steward: warning: {warning}", file=sys.stderr)


def cmd_serve(args: argparse.Namespace) -> int:
    port = _serve_port(args)
    settings, target = _prepare("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET")
    # uvicorn re-raises the signal that stopped it; make SIGTERM end us through `finally`
    # (stop the other serve processes, the embedded Valkey) with status 0, as a deploy expects.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        _startup_checks(settings)
        listener = _listen(args.host, port)
        print(  # only once every check passed and the port is ours
            f"steward: serving Slack requests on http://{args.host}:{port}/slack/events"
            + (f" ({args.processes} processes)" if args.processes > 1 else ""),
            file=sys.stderr,
        )
        children = [
            _fork(lambda: _serve(args, settings, target.url, listener))
            for _ in range(args.processes - 1)
        ]
        try:
            _serve(args, settings, target.url, listener)
        finally:
            _reap(children)
    finally:
        target.close()
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _listen(host: str, port: int) -> socket.socket:
    """One listening socket, bound before any fork, so every serve process accepts from it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise ConfigError(f"PORT {port} on {host} cannot be used ({exc.strerror}).") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _serve(
    args: argparse.Namespace, settings: Settings, redis_url: str, sock: socket.socket
) -> None:
    import uvicorn

    from app.runtime.process import Runtime
    from handlers.http import build_asgi

    runtime = Runtime(settings, redis_url, _queue_config(args))
    asgi = build_asgi(runtime, workers=0 if args.no_workers else 1)
    _freeze_startup_objects()
    config = uvicorn.Config(
        asgi, log_level="warning", access_log=False, lifespan="on", log_config=None
    )
    uvicorn.Server(config).run(sockets=[sock])


def _freeze_startup_objects() -> None:
    """Everything loaded at start (Bolt, slack_sdk, pydantic models...) lives as long as the
    process: keep it out of the garbage collector's full passes, which otherwise stop every
    request in flight for tens of milliseconds (and cost a third of serve's CPU under load).

    The tokenizer's vocabulary is not loaded here: it costs about 125 MB of RSS, so a process
    pays for it only when it first counts tokens (a `serve --no-workers` never does)."""
    gc.freeze()


def _fork(body: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:  # the child serves until it is told to stop, then exits without cleanup
        try:
            body()
        finally:
            os._exit(0)
    return pid


def _reap(children: list[int]) -> None:
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in children:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _run_until_signalled(body: Callable[[asyncio.Event], object]) -> None:
    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await body(stop)  # type: ignore[misc]

    run_loop(runner())


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a long-lived process's event loop on uvloop, as uvicorn runs serve's: the stdlib
    loop's socket writes and polling cost a worker a quarter of its CPU per job."""
    try:
        import uvloop
    except ImportError:  # not built for this platform (Windows): the stdlib loop works too
        asyncio.run(main)
        return
    uvloop.run(main)


def cmd_socket(args: argparse.Namespace) -> int:
    from app.runtime.process import Runtime
    from handlers.socket import run_socket

    settings, target = _prepare("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN")
    try:
        _startup_checks(settings)
        runtime = Runtime(settings, target.url, _queue_config(args))
        _freeze_startup_objects()

        async def run(stop: asyncio.Event) -> None:
            if args.health_port:
                await runtime.serve_health(args.health_host, args.health_port)
            print("steward: connecting to Slack in Socket Mode", file=sys.stderr)
            await run_socket(runtime, stop)

        _run_until_signalled(run)
    finally:
        target.close()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from app.runtime.process import Runtime
    from handlers import inbox

    settings, target = _prepare("SLACK_BOT_TOKEN")

    async def work(stop: asyncio.Event) -> None:
        runtime = Runtime(settings, target.url, _queue_config(args))
        inbox.install(runtime)
        _freeze_startup_objects()
        if args.health_port:
            await runtime.serve_health(args.health_host, args.health_port)
        runtime.start_workers(args.workers)
        print(f"steward: worker running ({args.workers} consumer(s))", file=sys.stderr)
        await stop.wait()
        await runtime.close()

    try:
        _startup_checks(settings)
        _run_until_signalled(work)
    finally:
        target.close()
    return 0


def _days(text: str) -> int:
    days = int(text) if text.isdigit() else 0
    if not 1 <= days <= 3650:
        raise argparse.ArgumentTypeError("must be a whole number of days, 1 to 3650")
    return days


def _audit_parsers(sub: Any) -> None:
    """`steward audit verify|export` and `steward usage`."""
    audit = sub.add_parser("audit", help="verify or export the audit log")
    actions = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    attest.add_parsers(actions)  # verify, public-key, checkpoint, evidence, check-evidence
    holds.add_parsers(actions)  # hold, release
    export = actions.add_parser("export", help="stream audit events as JSONL or CSV")
    when = "a date (2024-05-01) or ISO datetime"
    export.add_argument("--since", metavar="D", help=f"from {when}, inclusive")
    export.add_argument("--until", metavar="D", help=f"to {when}; a date includes that day")
    export.add_argument("--user", metavar="U", help="events by this user ID")
    export.add_argument("--channel", metavar="C", help="events in this channel ID")
    export.add_argument("--use-case", metavar="X", help="e.g. summarize or draft")
    export.add_argument("--status", metavar="S", help="approval status, e.g. pending")
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("-o", "--output", metavar="FILE", help="write here (default: stdout)")
    usage = sub.add_parser("usage", help="usage report in the terminal")
    usage.add_argument("--days", type=_days, default=7, metavar="N", help="window (default 7)")


def cmd_audit(args: argparse.Namespace) -> int:
    from app.audit.export import cli_export

    if args.audit_command in ("public-key", "check-evidence"):  # no Redis: an auditor's laptop
        return attest.run(args, load_settings(), None)
    settings, target = _prepare()
    try:
        if args.audit_command in attest.NEEDS_REDIS:
            return attest.run(args, settings, target.url)
        if args.audit_command in ("hold", "release"):
            return holds.run(args, target.url)
        try:
            sink = (
                open(args.output, "w", encoding="utf-8", newline="")  # noqa: SIM115
                if args.output
                else contextlib.nullcontext(sys.stdout)
            )
        except OSError as exc:
            print(f"steward: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return 2
        with sink as out:
            return cli_export(
                target.url,
                args.format,
                out,
                since=args.since,
                until=args.until,
                user=args.user,
                channel=args.channel,
                use_case=args.use_case,
                status=args.status,
                progress=sys.stderr.isatty(),  # a counter on a terminal, nothing when piped
            )
    finally:
        target.close()


def cmd_usage(args: argparse.Namespace) -> int:
    from app.audit.usage_view import cli_usage

    settings, target = _prepare()
    try:
        return cli_usage(target.url, args.days, settings.steward_data_dir)
    finally:
        target.close()


def cmd_demo(args: argparse.Namespace) -> int:
    from app.demo import run_demo

    return run_demo(quiet=args.quiet)


def cmd_doctor(args: argparse.Namespace) -> int:
    """`steward doctor`: one line per check; exit 0 ok, 1 warnings, 2 errors."""
    from app import doctor

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per check, not per request
    settings = load_settings()
    target: RedisTarget | None = None
    problem: str | None = None
    try:
        target = open_redis(settings)
    except ConfigError as exc:
        problem = str(exc)
    try:
        checks = asyncio.run(doctor.run(settings, target.url if target else None, problem))
    finally:
        if target is not None:
            target.close()
    for check in checks:
        print(check.line())
    status = doctor.exit_status(checks)
    print({0: "ready", 1: "ready, with warnings", 2: "not ready"}[status], file=sys.stderr)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
