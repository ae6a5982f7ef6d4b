"""`steward eval [--model M] [--use-case U] [--limit N] [--json]`: the CLI glue.

Its parser is built with nothing heavy imported (every `steward` command builds all parsers);
the pipeline is imported when the command runs. Exit: 0 the thresholds are met, 1 they are not,
2 bad configuration or a use case this build cannot evaluate.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from typing import Any, TextIO

USE_CASES = ("summarize", "draft", "ask")
BAR = 24


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("must be a whole number, 1 or more")
    return int(text)


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "eval",
        help="run the bundled evaluation set against the model or the offline engine; "
        "writes model_evaluated (exit 1 below the thresholds)",
    )
    parser.add_argument("--model", metavar="M", help="default: OPENAI_MODEL")
    parser.add_argument("--use-case", choices=USE_CASES, default="summarize")
    parser.add_argument("--limit", type=_count, metavar="N", help="only the first N cases")
    parser.add_argument("--json", action="store_true", help="the full result as JSON on stdout")


def actor() -> str:
    """Who ran it: the OS user, as the audit log records a command-line actor."""
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (a bare container)
        return "os:unknown"


class ProgressBar:
    """On stderr: a bar redrawn in place on a terminal, else one line per case."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.live = out.isatty()

    def __call__(self, done: int, total: int, case: Any) -> None:
        verdict = "ok" if case.passed else "FAIL"
        if self.live:
            filled = BAR * done // total
            bar = "#" * filled + "." * (BAR - filled)
            end = "\n" if done == total else ""
            self.out.write(f"\r[{bar}] {done}/{total} {case.case_id[:40]:<40} {verdict}{end}")
        else:
            self.out.write(f"eval [{done}/{total}] {case.case_id} {verdict}\n")
        self.out.flush()


def run(args: argparse.Namespace) -> int:
    from app.evaluation.runner import Unavailable, prompt_version
    from app.runtime.settings import load_settings
    from app.runtime.store import open_redis

    try:
        prompt_version(args.use_case)
    except Unavailable as exc:
        print(f"steward eval: {exc}.", file=sys.stderr)
        return 2
    settings = load_settings()
    if settings.engine == "offline" and args.model:
        print(
            "steward eval: --model needs a model engine; the offline engine has none. "
            "Set OPENAI_API_KEY (and OPENAI_BASE_URL for another server), or drop --model.",
            file=sys.stderr,
        )
        return 2
    target = open_redis(settings)
    print(f"steward: storage: {target.description}", file=sys.stderr)
    try:
        return asyncio.run(_evaluate(args, settings, target.url))
    finally:
        target.close()


async def _evaluate(args: argparse.Namespace, settings: Any, redis_url: str) -> int:
    from app.audit.log import AuditLog
    from app.audit.pricing import load_prices
    from app.evaluation import record
    from app.evaluation.cases import load_set
    from app.evaluation.report import as_json, table
    from app.evaluation.runner import Subject, run_eval
    from app.governance.model_evidence import DEFAULT_REQUIREMENT
    from app.governance.policy import load_policy_or_default
    from app.model.llm import build_llm
    from app.runtime.store import async_client
    from app.summaries.offline_engine import MODEL as OFFLINE_MODEL

    policy = load_policy_or_default(settings.steward_policy)
    thresholds = policy.defaults.require_eval or DEFAULT_REQUIREMENT
    redis = async_client(redis_url)
    llm = build_llm(settings, redis)
    if llm is None:
        subject = Subject("offline", OFFLINE_MODEL, "offline", None)
    else:
        endpoint = (
            settings.azure_openai_endpoint
            or settings.openai_base_url
            or "https://api.openai.com/v1"
        )
        subject = Subject("openai", args.model or settings.openai_model, endpoint, llm)
    evalset = load_set()
    cases = evalset.cases[: args.limit] if args.limit else evalset.cases
    try:
        report = await run_eval(
            redis,
            subject,
            cases,
            use_case=args.use_case,
            eval_set_version=evalset.version,
            thresholds=thresholds,
            prices=load_prices(settings.steward_data_dir),
            progress=ProgressBar(sys.stderr),
        )
        await record.keep(AuditLog(redis), report, actor())
    finally:
        if llm is not None:
            await llm.aclose()
        await redis.aclose()
    print(as_json(report) if args.json else table(report))
    return 0 if report.passed else 1
