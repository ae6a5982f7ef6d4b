"""Steward's core. Packages by capability (runtime, slack, model, governance, audit, summaries,
drafts, sandbox); at this root, what ties them together: the job registry (`jobs`), App Home,
help, the `/steward` dispatcher, `doctor`, and the composition root (`cli`, `demo`).

May import: the root modules may import every package; `cli` and `demo` alone reach handlers/.
"""
