"""Slack as the core sees it: the one port to the Web API (`port`), Block Kit builders, the
message model, reading a conversation, Slack's size limits, the scopes Steward needs.

May import: `runtime` (settings, store) only. Never Bolt: that lives in handlers/.
"""
