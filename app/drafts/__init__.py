"""Drafting messages and getting them approved: the use case, the writer, a draft's state and
its atomic transitions, approvals (decisions, escalation, expiry, posting), the views.

May import: `runtime`, `slack`, `model`, `governance`, `audit`, and `summaries` for shared
reading of a thread; nothing imports `drafts` but the root.
"""
