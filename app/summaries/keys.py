"""Every Redis key the summaries package writes, built here and nowhere else."""

from __future__ import annotations


def stored_summary(interaction_id: str) -> str:
    """A delivered summary, kept for Share in thread (`SUMMARY_TTL_S`)."""
    return f"steward:summary:{interaction_id}"


def engine_cache(kind: str, engine: str, model: str, prompt_version: str, name: str) -> str:
    """A cached chunk plan or chunk summary: content-addressed under the engine, the model and
    the prompt version, so a change of any of them never reuses an old answer."""
    return f"steward:summ:{kind}:{engine}:{model}:{prompt_version}:{name}"


def engine_cache_scope(scope: str) -> str:
    """A SCAN pattern for every cache entry written under `EngineConfig.cache_scope`."""
    return f"steward:summ:*:{scope}:*"
