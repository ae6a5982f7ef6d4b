"""Models admitted on evidence: the bundled evaluation set (`cases`, data in `set/`), what is
measured (`metrics`), running the set through the production pipeline (`runner`), the result
and its table (`report`), where results are kept (`record`: the `model_evaluated` audit event
and the index the policy gate reads) and the `steward eval` command (`command`).

May import: `runtime`, `slack`, `model`, `governance`, `audit`, `summaries`, `drafts`; nothing
imports it but the root (cli, home, doctor).
"""
