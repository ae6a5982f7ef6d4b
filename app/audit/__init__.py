"""The record: the hash-chained audit log, queries, export, retention, observability, the Why?
trace, feedback, usage and pricing, and the admin review built on them.

May import: `runtime`, `slack`, `model`, `governance` (roles and policy for admin checks).
"""
