"""Who may use which AI feature where, and who owns the decision: the policy file (schema, YAML
reading, checks, loading, hot reload, diff), resolving it, the gate every use case passes, the
admin gate, approver groups, grants and use-case requests, pause, budgets, the policy's model,
the `/steward policy|pause|resume|request` subcommands, and the package's Redis keys.

May import: `runtime`, `slack`, `model`, `audit` (to record what it decides).
"""
