"""Summarising threads and channels: the use case, what to summarise (targets), the map-reduce
and offline engines, the summary model, grounding and confidence, chunking, the views.

May import: `runtime`, `slack`, `model`, `governance`, `audit`; never `drafts`.
"""
