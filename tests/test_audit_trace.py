"""The Why? trace: a typed `Trace` read from an interaction's events, and its modal."""

from __future__ import annotations

import json

from app.audit.event import AuditEvent
from app.audit.trace_view import Trace, build_trace, why_modal


def event(seq: int, name: str, **fields: object) -> AuditEvent:
    return AuditEvent.model_validate(
        {"id": seq, "at": f"2024-06-01T00:00:0{seq}.000000Z", "interaction_id": "i1", "event": name}
        | fields
    )


def test_a_trace_without_a_generated_event_says_what_it_does_not_know() -> None:
    trace = build_trace([event(1, "requested", rule="channels.C1")])
    assert trace == Trace(interaction_id="i1", events="requested", rule="channels.C1")
    assert (trace.sources, trace.redactions) == ("—", "none")


def test_a_trace_reads_the_last_generated_event_and_the_approval() -> None:
    events = [
        event(1, "requested"),
        event(
            2,
            "generated",
            engine="llm",
            model="gpt-x",
            sources=["a", "b"],
            tokens_in=10,
            tokens_out=5,
            latency_ms=1500,
            redactions={"email": 2},
            confidence=0.8,
            extra={"confidence": {"label": "High", "grounding": 0.9}, "model_calls": 2},
        ),
        event(3, "approved", approval_status="approved", approver_id="U2"),
    ]
    trace = build_trace(events)
    assert trace.events == "requested → generated → approved"
    assert trace.approval == "approved (by <@U2>)"
    assert trace.sources == "2 messages"
    assert trace.engine == "llm · gpt-x"
    assert trace.redactions == "email: 2"
    assert trace.confidence == "High (0.80) · grounding 0.90"
    assert trace.tokens == "10 in / 5 out · 2 model call(s), 0 cached chunk(s)"
    assert trace.latency == "1.50 s"
    modal = json.dumps(why_modal(trace)["blocks"], ensure_ascii=False)
    assert "Engine and model" in modal and "llm · gpt-x" in modal and "`i1`" in modal
