"""Who may use which AI feature where, and who owns the decision: the policy file, resolving it,
the gate every use case passes, grants and use-case requests, pause, budgets, the policy's model.

May import: `runtime`, `slack`, `model`, `audit` (to record what it decides).
"""
