"""The model: OpenAI Chat Completions through the `openai` SDK, or any compatible server.

The SDK already does what we need for resilience — timeouts, and retries with exponential
backoff that honour `Retry-After` on 429/5xx — so we configure it rather than re-implement it.
Every failure that reaches the caller is a `ModelError` with a message fit for the person.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletionMessageParam


class ModelError(Exception):
    """The model could not answer. `user_message` is what the person is shown."""

    def __init__(self, user_message: str, code: str) -> None:
        super().__init__(f"{code}: {user_message}")
        self.user_message = user_message
        self.code = code


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    tokens_in: int
    tokens_out: int
    latency_ms: float
    logprobs: list[float] | None = field(default=None)

    @property
    def mean_token_probability(self) -> float | None:
        if not self.logprobs:
            return None
        return sum(math.exp(lp) for lp in self.logprobs) / len(self.logprobs)


class LLM:
    def __init__(
        self,
        api_key: str,
        model: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
    ) -> None:
        self.model = model
        self._client = AsyncOpenAI(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    async def complete(
        self,
        system: str,
        user: str,
        *,
        model: str | None = None,
        max_tokens: int = 1200,
        json_output: bool = True,
    ) -> Completion:
        """One chat completion. The model gets no tools: it can only write text."""
        chosen = model or self.model
        started = time.perf_counter()
        try:
            messages: list[ChatCompletionMessageParam] = [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ]
            response = await self._client.chat.completions.create(
                model=chosen,
                messages=messages,
                max_tokens=max_tokens,
                temperature=0.2,
                logprobs=True,
                response_format={"type": "json_object"} if json_output else {"type": "text"},
            )
        except openai.APITimeoutError:
            raise ModelError("The AI model took too long to answer.", "timeout") from None
        except openai.RateLimitError:
            raise ModelError("The AI model is rate-limited right now.", "rate_limited") from None
        except openai.AuthenticationError:
            raise ModelError("The AI model rejected Steward's credentials.", "auth") from None
        except openai.APIStatusError as exc:
            raise ModelError("The AI model returned an error.", f"http_{exc.status_code}") from None
        except openai.APIConnectionError:
            raise ModelError("The AI model could not be reached.", "unreachable") from None
        latency_ms = (time.perf_counter() - started) * 1000
        if not response.choices:
            raise ModelError("The AI model returned no answer.", "empty")
        choice = response.choices[0]
        usage = response.usage
        logprobs = None
        if choice.logprobs is not None and choice.logprobs.content:
            logprobs = [token.logprob for token in choice.logprobs.content]
        return Completion(
            text=choice.message.content or "",
            model=response.model or chosen,
            tokens_in=usage.prompt_tokens if usage else 0,
            tokens_out=usage.completion_tokens if usage else 0,
            latency_ms=latency_ms,
            logprobs=logprobs,
        )
