"""Drafting messages and getting them approved: the use case (`draft`), the writer, a draft's
state and its atomic transitions (`store`, names in `keys`), submitting and withdrawing,
deciding (`approvals`), deadlines (escalation, expiry), exactly-once `posting`, the approval
request message, the audit `trail`, the views.

May import: `runtime`, `slack`, `model`, `governance`, `audit`, and `summaries` for shared
reading of a thread; nothing imports `drafts` but the root.
"""
