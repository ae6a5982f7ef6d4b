"""What a model endpoint accepts: the request parameters of each model profile, and what was learnt.

Two profiles:

* chat models (gpt-4o, gpt-4.1 and most OpenAI-compatible servers): `max_tokens`, a low
  `temperature`, and `logprobs` (token probabilities feed a summary's confidence);
* reasoning models (OpenAI's o1, o3, o4 series and the gpt-5 family, by name, or learnt): they take
  `max_completion_tokens` — which also pays for their hidden reasoning tokens, hence the headroom —
  and reject `max_tokens`, a non-default `temperature` and `logprobs` with a 400.

What a server told us is remembered per endpoint and model, in Redis with a TTL, so the discovery
is paid once a day rather than on every request:

* the best output format it accepted (`json_schema`, else `json_object`, else `text`);
* parameters it refused with 400 `unsupported_parameter` / `unsupported_value` (a refusal of
  `max_tokens` means a reasoning model: the whole profile switches).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
from dataclasses import dataclass, field, replace
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from app.model.structured import FORMATS, OutputFormat

CAPABILITY_TTL_S = 24 * 3600
TEMPERATURE = 0.2
# Reasoning tokens count against max_completion_tokens; without headroom a small answer budget can
# be spent thinking, leaving an empty or cut-off answer.
REASONING_HEADROOM = 4
_REASONING_RE = re.compile(r"^(o1|o3|o4|gpt-5)([-.]|$)", re.IGNORECASE)
_KEY = "steward:model:caps:"

# Parameters a server may refuse that we can do without.
OPTIONAL_PARAMS = ("max_tokens", "max_completion_tokens", "temperature", "logprobs")


def is_reasoning_name(model: str) -> bool:
    """o1*, o3*, o4*, gpt-5* (also behind a provider prefix such as `openai/gpt-5-mini`)."""
    return bool(_REASONING_RE.match(model.rsplit("/", 1)[-1]))


@dataclass(frozen=True)
class Capabilities:
    """What one endpoint+model takes. `known` is False until a server has answered once."""

    format: OutputFormat = "json_schema"
    reasoning: bool = False
    refused: frozenset[str] = field(default_factory=frozenset)
    known: bool = False

    @classmethod
    def assumed(cls, model: str) -> Capabilities:
        """Before any answer: Structured Outputs, and the profile the model's name implies."""
        return cls(reasoning=is_reasoning_name(model))

    def params(self, max_tokens: int) -> dict[str, Any]:
        """The sampling parameters of a request under this profile."""
        params: dict[str, Any] = {}
        if self.reasoning:
            if "max_completion_tokens" not in self.refused:
                params["max_completion_tokens"] = max_tokens * REASONING_HEADROOM
            return params
        if "max_tokens" not in self.refused:
            params["max_tokens"] = max_tokens
        if "temperature" not in self.refused:
            params["temperature"] = TEMPERATURE
        if "logprobs" not in self.refused:
            params["logprobs"] = True
        return params

    @property
    def logprobs(self) -> bool:
        return not self.reasoning and "logprobs" not in self.refused

    @property
    def logprobs_note(self) -> str | None:
        """Why confidence cannot use token probabilities, when it cannot."""
        if self.reasoning:
            return "reasoning models give no token probabilities"
        if "logprobs" in self.refused:
            return "the model server does not give token probabilities"
        return None

    def without(self, param: str) -> Capabilities | None:
        """The profile after the server refused `param`, or None when dropping it cannot help."""
        if param == "max_tokens" and not self.reasoning:
            return replace(self, reasoning=True)  # "use max_completion_tokens instead"
        if param in OPTIONAL_PARAMS and param not in self.refused:
            return replace(self, refused=self.refused | {param})
        return None

    def next_format(self) -> Capabilities | None:
        """The next way of asking for JSON after the server refused this one."""
        index = FORMATS.index(self.format)
        return replace(self, format=FORMATS[index + 1]) if index + 1 < len(FORMATS) else None

    def to_json(self) -> str:
        return json.dumps(
            {"format": self.format, "reasoning": self.reasoning, "refused": sorted(self.refused)}
        )

    @classmethod
    def from_json(cls, raw: str) -> Capabilities | None:
        try:
            data = json.loads(raw)
            fmt = data["format"]
            if fmt not in FORMATS:
                return None
            refused = frozenset(str(p) for p in data.get("refused", []))
            return cls(format=fmt, reasoning=bool(data["reasoning"]), refused=refused, known=True)
        except (ValueError, KeyError, TypeError):
            return None


class CapabilityMemory:
    """Capabilities per endpoint+model, in Redis (shared by every process) with a TTL; in this
    process only when there is no Redis (the `steward doctor` probe, a unit test)."""

    def __init__(self, redis: aioredis.Redis | None, ttl_s: int = CAPABILITY_TTL_S) -> None:
        self.redis = redis
        self.ttl_s = ttl_s
        self._local: dict[str, tuple[float, str]] = {}

    @staticmethod
    def key(endpoint: str, model: str) -> str:
        digest = hashlib.sha256(f"{endpoint}\x00{model}".encode()).hexdigest()[:16]
        return _KEY + digest

    async def get(self, endpoint: str, model: str) -> Capabilities:
        """What is known, else what the model's name implies (`known` False)."""
        key = self.key(endpoint, model)
        raw: str | bytes | None = None
        if self.redis is not None:
            try:
                raw = await self.redis.get(key)
            except RedisError:
                raw = None  # a lookup miss costs one probe, not the request
        else:
            held = self._local.get(key)
            raw = held[1] if held is not None and held[0] > time.monotonic() else None
        if isinstance(raw, bytes):
            raw = raw.decode()
        known = Capabilities.from_json(raw) if raw else None
        return known or Capabilities.assumed(model)

    async def put(self, endpoint: str, model: str, caps: Capabilities) -> None:
        key = self.key(endpoint, model)
        if self.redis is None:
            self._local[key] = (time.monotonic() + self.ttl_s, caps.to_json())
            return
        with contextlib.suppress(RedisError):  # forgetting costs a probe later, not the request
            await self.redis.set(key, caps.to_json(), ex=self.ttl_s)

    async def forget(self, endpoint: str, model: str) -> None:
        key = self.key(endpoint, model)
        self._local.pop(key, None)
        if self.redis is not None:
            with contextlib.suppress(RedisError):
                await self.redis.delete(key)
