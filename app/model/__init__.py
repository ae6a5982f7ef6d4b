"""The model and untrusted text on its way in and out: the LLM client and what an endpoint
accepts, the output contract, tokens, redaction, datamarking, output sanitising.

May import: `runtime`, `slack.messages` and `slack.mrkdwn`; never a use case.
"""
