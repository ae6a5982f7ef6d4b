"""What is sent to the model: a fixed system prompt and one user turn, typed.

Builders (summary and draft prompts) return a `Prompt`; the LLM client turns it into chat
messages in one place, so no caller builds or unpacks role dictionaries.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Prompt:
    system: str  # fixed instructions: never contains untrusted text
    user: str  # the delimited, datamarked material and the request
