"""Bare links in model output: any domain-like token ending in a public suffix is a link, and it
is removed unless the sources hold it; file names, versions and abbreviations stay. The suffix
list is the bundled snapshot: sanitising never touches the network or the disk."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.model.sanitize import LINK_REMOVED, links_in, sanitize_output

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "link",
    [
        "login-acme.zip",
        "acme-sso.click",
        "payroll.sh",
        "Payroll.SH",
        "hr-portal.co.uk",
        "evil.com/login?next=1",
        "sso.acme.example.com:8443/auth",
        "xn--80ak6aa92e.com",
        "пример.рф",
        "claims.mov",
    ],
)
def test_bare_domains_with_any_public_suffix_are_removed(link: str) -> None:
    out = sanitize_output(f"Reset your password at {link} today.", set())
    assert out == f"Reset your password at {LINK_REMOVED} today."


@pytest.mark.parametrize(
    "text",
    [
        "Attached report.pdf and notes.docx, see budget.xlsx",
        "Upgrade to v1.2.3 (or 2.0.1-rc1) first",
        "Use a flag, e.g. --fast, i.e. the quick path; etc.",
        "It costs $1.50 or €3.99, at 10.30am, on 12.05.2024",
        "Node.js and Vue.js, python3.12, U.S. customers, Mr.Smith",
        "mail ana.dev@example.com or bob@acme.io",
        "release 3.11.4 (final), build 2024.05.12",
    ],
)
def test_file_names_versions_numbers_and_abbreviations_stay(text: str) -> None:
    assert sanitize_output(text, set()) == text


def test_a_domain_the_sources_hold_stays() -> None:
    sources = ["Deploy with deploy.sh, then check status.acme.click and Login-Acme.zip"]
    allowed = links_in(sources)
    assert {"deploy.sh", "status.acme.click", "Login-Acme.zip"} <= allowed
    out = sanitize_output("Run deploy.sh; see status.acme.click and login-acme.zip.", allowed)
    assert out == "Run deploy.sh; see status.acme.click and login-acme.zip."
    assert sanitize_output("Run payroll.sh", allowed) == f"Run {LINK_REMOVED}"


def test_links_in_skips_names_that_are_not_domains() -> None:
    assert links_in(["open report.pdf and v1.2.3, e.g. this"]) == set()


def test_the_suffix_list_needs_no_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """With every socket refused, a fresh process imports the sanitiser and judges links,
    and writes no suffix-list cache."""
    code = (
        "import socket\n"
        "def refuse(*a, **k):\n"
        "    raise OSError('network unreachable (test)')\n"
        "socket.socket.connect = refuse\n"
        "socket.create_connection = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from app.model.sanitize import sanitize_output\n"
        "print(sanitize_output('go to payroll.sh or report.pdf', set()))\n"
    )
    cache = tmp_path / "cache"
    cache.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "HOME": str(tmp_path),
            "XDG_CACHE_HOME": str(cache),
            "TLDEXTRACT_CACHE": str(cache),
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"go to {LINK_REMOVED} or report.pdf"
    assert list(cache.iterdir()) == []
    # and in this process too: the suffix lookup opens no socket
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    assert sanitize_output("see acme-sso.click", set()) == f"see {LINK_REMOVED}"


def _refuse(*_: object, **__: object) -> None:
    raise OSError("network unreachable (test)")


words = st.sampled_from(
    ["report.pdf", "v1.2.3", "e.g.", "i.e.", "3.14", "10:30", "$4.99", "2024-05-12", "ok", "a.b"]
)


@settings(max_examples=200, deadline=None)
@given(st.lists(words, max_size=12).map(" ".join))
def test_benign_tokens_are_never_eaten(text: str) -> None:
    assert LINK_REMOVED not in sanitize_output(text, set())


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(["login-acme.zip", "acme-sso.click", "payroll.sh", "evil.com"]),
    st.lists(words, max_size=6).map(" ".join),
    st.lists(words, max_size=6).map(" ".join),
)
def test_planted_links_are_always_removed(link: str, before: str, after: str) -> None:
    out = sanitize_output(f"{before} {link} {after}", set())
    assert link not in out and LINK_REMOVED in out
