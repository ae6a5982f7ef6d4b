"""The agent pane: Slack's Agent messaging experience (the Messages tab, side by side with the
channel a person reads). What the person is viewing (`context`), the suggested prompts policy
allows there (`prompts`), the deterministic intent parser (`intents`), the answer streamed into
the pane's thread (`stream`, `surface`) and the job that routes a pane message to a use case
(`conversation`).

May import: `runtime`, `slack`, `model`, `governance`, `audit`, `summaries`, `drafts`.
"""
