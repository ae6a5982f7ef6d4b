"""The record: the hash-chained audit log, queries, export, retention, observability, the Why?
trace, feedback, usage and pricing, and the admin review built on them.

The log itself: `event` (the model, a leaf), `chain` (hashing), `state`, `query` (filters),
`keys`, `scripts` (Lua: the one append script) and `lua_sha256`, `stream` (raw reads), `log`
(AuditLog), `verify`, `archive`; `sources` (compact sources) and `totals` (the running usage
totals the append script keeps, which `usage` reads).

May import: `runtime`, `slack`, `model`, `governance` (roles and policy for admin checks).
"""
