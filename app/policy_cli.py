"""`steward policy check [FILE] [--resolve]` and `steward ids [NAME …]`: the command line's
policy tools (parsers and commands), kept beside app/cli.py, which registers them."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.runtime.settings import load_settings


def add_parsers(sub: Any) -> None:
    policy = sub.add_parser("policy", help="policy file tools")
    policy_sub = policy.add_subparsers(dest="policy_command", required=True, metavar="ACTION")
    check = policy_sub.add_parser("check", help="validate a policy file (errors name the line)")
    check.add_argument(
        "file", nargs="?", help="default: $STEWARD_POLICY, else ./policy.yml, else the built-in"
    )
    check.add_argument(
        "--resolve", action="store_true", help="also look up #channel and @name entries in Slack"
    )
    ids = sub.add_parser("ids", help="print the Slack IDs of #channels, @people and @groups")
    ids.add_argument("names", nargs="*", metavar="NAME", help="#channel, @user or @group")


def cmd_ids(args: argparse.Namespace) -> int:
    from app.names_cli import run_ids

    return run_ids(load_settings(), args.names)


def cmd_policy(args: argparse.Namespace) -> int:
    """`steward policy check [FILE] [--resolve]`: every problem with its line (names looked up
    in Slack with --resolve); exit 1 if any, else 0."""
    from app.governance.policy import check_source

    # STEWARD_POLICY as every other command reads it: the environment, else `.env`.
    configured = load_settings().steward_policy
    result = check_source(args.file or (str(configured) if configured else None))
    if result.note:
        print(f"steward: {result.note}", file=sys.stderr)
    problems = list(result.problems)
    if result.policy is not None and args.resolve:
        from app.names_cli import resolve_problems

        problems += resolve_problems(load_settings(), result.policy)
    for problem in problems:
        print(f"{result.name}: {problem}")
    if result.policy is None or problems:
        print(f"{result.name}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    overrides = sum(len(v) for v in result.policy.channels.values())
    names = f", {len(result.policy.names)} names" if result.policy.names else ""
    unchecked = " (not looked up in Slack: add --resolve)" if names and not args.resolve else ""
    print(
        f"ok: {len(result.policy.use_cases)} use cases, {overrides} channel overrides{names}"
        f"{unchecked}"
    )
    return 0
