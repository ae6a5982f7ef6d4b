"""Questions about one conversation (`ask`): answered only from its messages, with citations,
or "the messages don't say". The use case (ask, and its streamed form), what to read (request),
the relevant messages within a token budget (selection), the prompt, the answer contract and its
grounding, the offline engine's extractive answer, reading a streamed answer, the views.

May import: `runtime`, `slack`, `model`, `governance`, `audit`, `summaries` (targets, grounding,
views' helpers); never `drafts`.
"""
