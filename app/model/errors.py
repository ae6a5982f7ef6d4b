"""A model failure, as the person hears of it and the log records it: `ModelError` with a kind.

Every failure on the model path becomes one (status errors, timeouts, unreadable answers, even
an unexpected exception), so a use case records one `failed` event and never re-runs its job.
"""

from __future__ import annotations

from typing import Any, Literal

ErrorKind = Literal[
    "rate_limited",  # 429
    "refused",  # the model server would not take the request (4xx), or the model declined
    "too_long",  # the prompt is past the model's context window
    "unreadable",  # an answer came, but not one we can use (HTML, garbage, invalid JSON)
    "truncated",  # the answer was cut off at the token limit
    "interrupted",  # a streamed answer stopped midway (connection lost, an error event)
    "timeout",
    "unreachable",
    "auth",  # 401/403: the key or the deployment's permissions
    "server_error",  # 5xx after the SDK's retries
    "internal",  # anything else on the model path
]

# What the person is told for each kind (the use cases add what happens next).
USER_MESSAGES: dict[ErrorKind, str] = {
    "rate_limited": "The AI model is rate-limited right now.",
    "refused": "The AI model refused the request.",
    "too_long": "The conversation is too long for the AI model's context window.",
    "unreadable": "The AI model's answer could not be read.",
    "truncated": "The AI model's answer was cut off before it was complete.",
    "interrupted": "The AI model's answer stopped midway.",
    "timeout": "The AI model took too long to answer.",
    "unreachable": "The AI model could not be reached.",
    "auth": "The AI model rejected Steward's credentials.",
    "server_error": "The AI model returned an error.",
    "internal": "Something went wrong while talking to the AI model.",
}

# What the person can do about it, by kind: waiting helps some failures, only an admin others.
NEXT_STEPS: dict[ErrorKind, str] = {
    "rate_limited": "Please try again in a minute.",
    "refused": "Please tell a Steward admin: the model or its settings need a change.",
    "too_long": "Try a shorter time window or a single thread.",
    "unreadable": "Please try again; if it keeps happening, tell a Steward admin.",
    "truncated": "Please try again; if it keeps happening, tell a Steward admin.",
    "interrupted": "Please try again in a minute.",
    "timeout": "Please try again in a few minutes.",
    "unreachable": "Please try again in a few minutes.",
    "auth": "Please tell a Steward admin: the model's credentials need fixing.",
    "server_error": "Please try again in a few minutes.",
    "internal": "Please try again; if it keeps happening, tell a Steward admin.",
}


class ModelError(Exception):
    """The model could not answer. `user_message` is what the person is shown, `code` what the
    audit trail records (`model: <code>`), `kind` the category; the rest is for the log."""

    def __init__(
        self,
        user_message: str,
        code: str,
        *,
        kind: ErrorKind = "internal",
        status: int | None = None,
        error_type: str | None = None,
        error_code: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{code}: {user_message}")
        self.user_message = user_message
        self.code = code
        self.kind = kind
        self.status = status
        self.error_type = error_type
        self.error_code = error_code
        self.request_id = request_id

    @property
    def next_step(self) -> str:
        return NEXT_STEPS[self.kind]

    @classmethod
    def of(cls, kind: ErrorKind, code: str, **detail: Any) -> ModelError:
        return cls(USER_MESSAGES[kind], code, kind=kind, **detail)
