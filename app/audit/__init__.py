"""The record: the hash-chained audit log, queries, export, retention, observability, the Why?
trace, feedback, usage and pricing, and the admin review built on them.

The log itself: `event` (the model, a leaf), `chain` (hashing), `state`, `query` (filters),
`keys`, `scripts` (Lua: the one append script) with `lua_sha256` and `lua_merkle`, `stream`
(raw reads), `log` (AuditLog), `verify`, `archive`; `merkle` (RFC 6962 tree math and proofs, no
storage) and `merkle_store` (roots and proofs from the nodes the append script keeps);
`sources` (compact sources) and `totals` (the running usage totals the append script keeps,
which `usage` reads).

Evidence (issue 15): `signing` (the Ed25519 key, never from Redis), `checkpoint` (the signed
tree head), `checkpoints` (signing them, now or every N events / T seconds), `published` (the
append-only file and the Slack channel), `tree_check` (verify against what was published),
`evidence` (packages and their offline check), `evidence_build` (from the live log),
`evidence_export` (Why?'s Export evidence), `cli_attest` (their commands).

Out of the box and kept back: `sinks` (forwarding at least once, cursors, leases, lag) with
`sink_kinds` (Splunk HEC, syslog, OTLP) and `sink_formats` (their encodings); `hold` (what a
legal hold covers, a leaf) and `holds` (placing and releasing, the commands); `content` (what
the log keeps of outputs: `audit.content`); `coverage` (how far a published checkpoint vouches
for the log: retention trims no further) and `s3` (archives and Object Lock checkpoints in
S3-compatible storage); `integrity` (the last checkpoint's and verify's record) and
`integrity_view` (the admin App Home's section on them).

May import: `runtime`, `slack`, `model`, `governance` (roles and policy for admin checks).
"""
