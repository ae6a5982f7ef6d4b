"""What the log keeps of an AI output, by the policy's `audit.content`:

- `full`: the output as shown (the default);
- `redacted`: the output with the same redaction applied as to text sent to the model (e-mail
  addresses, phone numbers, cards, IBANs, national ids, keys become `[EMAIL_1]`…);
- `hashed`: no output text at all, only its SHA-256 (`extra.output_sha256`), so a copy someone
  produces can be checked against the log, plus where the message is in Slack when the event
  knows it (`posted`: `extra.ts` and `extra.target_channel`, what `chat.getPermalink` takes).

An edit's earlier version (`extra.previous`) is output text too and is treated the same way.
Source messages are never stored in any mode: events keep their timestamps only
(`app.audit.sources`). Applied once, in `AuditLog` before the append, so no use case can forget.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from app.audit.event import AuditEvent
from app.model.redact import Redactor

ContentMode = Literal["full", "redacted", "hashed"]
TEXT_EXTRAS = ("previous",)  # `extra` fields that hold output text


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def kept(event: AuditEvent, mode: ContentMode) -> AuditEvent:
    """`event` as the log keeps it under `mode`."""
    texts = [k for k in TEXT_EXTRAS if isinstance(event.extra.get(k), str)]
    if mode == "full" or (event.output is None and not texts):
        return event
    extra = dict(event.extra)
    output = event.output
    if mode == "redacted":
        redactor = Redactor()
        if output is not None:
            output = redactor.redact(output)
        for k in texts:
            extra[k] = redactor.redact(extra[k])
        if redactor.total:
            extra["output_redactions"] = redactor.counts
    else:
        if output is not None:
            extra["output_sha256"] = sha256_text(output)
            output = None
        for k in texts:
            extra[f"{k}_sha256"] = sha256_text(extra.pop(k))
    extra["content"] = mode
    return event.model_copy(update={"output": output, "extra": extra})
