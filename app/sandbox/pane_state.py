"""What the agent pane shows besides messages: loading statuses, suggested prompts, titles.

Slack keeps these per app conversation and shows them to the user; the sandbox keeps them so a
test (or the user side) can read what the app set. Sources:

- docs.slack.dev/ai/developing-agents and docs.slack.dev/ai/migrating-to-agent-messaging — the
  Agent messaging experience lives in the app's Messages tab (manifest ``features.agent_view``);
  each user message in the DM is a thread root that the app answers in.
- docs.slack.dev/reference/methods/assistant.threads.setStatus — a status shown in a thread while
  the app works, "cleared automatically when the app sends a reply" (bolt-python's ``set_status``
  docs say the same); ``loading_messages`` rotate in its place.
- docs.slack.dev/reference/methods/assistant.threads.setSuggestedPrompts — "up to four suggested
  prompts", each with a ``title`` and a ``message``; clicking one sends its ``message`` as the
  user's message.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Status:
    """One ``assistant.threads.setStatus`` call, and the thread's latest ts when it was set."""

    channel: str
    thread_ts: str
    status: str
    loading_messages: tuple[str, ...]
    after_ts: str


@dataclass(frozen=True)
class Prompt:
    title: str
    message: str


@dataclass
class PaneState:
    """The agent-pane state of one workspace's app."""

    agent_view: bool = False  # manifest features.agent_view (set by the Sandbox from manifest.yml)
    statuses: list[Status] = field(default_factory=list)  # every setStatus, oldest first
    prompts: dict[str, tuple[str | None, list[Prompt]]] = field(default_factory=dict)  # by DM
    titles: dict[tuple[str, str], str] = field(default_factory=dict)  # (channel, thread_ts)
    viewing: dict[str, str | None] = field(default_factory=dict)  # user -> channel in view

    def statuses_in(self, channel: str, thread_ts: str) -> list[str]:
        """Every status the app set in this thread, in order (empty strings are clears)."""
        return [s.status for s in self.statuses if (s.channel, s.thread_ts) == (channel, thread_ts)]
