"""Putting people's text into Slack mrkdwn without letting it format, ping or link.

Slack parses `&`, `<` and `>` as control characters in every mrkdwn text (and in a message's
top-level `text`): `<!channel>` pings a channel, `<https://evil|HR>` is a link that reads "HR".
Slack's formatting reference ("Escaping text", api.slack.com/reference/surfaces/formatting
#escaping) says to replace exactly those three with `&amp;`, `&lt;` and `&gt;`, and nothing
else (other HTML entities are shown literally).

`escape()` is the one place that does it. Every view that interpolates text a person controls
calls it at the view, where the text meets mrkdwn: real and display names (SlackPort.user_name
returns the name as Slack holds it; the port does not escape), reject reasons, use-case request
purposes, pause reasons, what someone typed that Steward echoes back. Plain-text objects
(headers, buttons, modal titles, input values) are not parsed and take text unescaped.

Not escaped, on purpose:
- model output: app/model/sanitize.py already removed broadcast pings and links that were not
  in the sources, and keeps source links and user mentions working;
- a draft's own text (the model's, or a person's edit through `clean_human_text`): it is the
  message being approved, and it is shown to the requester and approver in the same mrkdwn in
  which it is posted, so what the approver approves is exactly what the channel sees. Broadcast
  pings were removed by the sanitiser before anyone saw it; the links it keeps are the
  sources' or the editor's own, visible to the approver before the post.
"""

from __future__ import annotations

import re

# An `&` that does not already start one of Slack's three entities.
_BARE_AMP_RE = re.compile(r"&(?!(?:amp|lt|gt);)")


def escape(text: str) -> str:
    """`text` shown as written in mrkdwn: `&`, `<`, `>` become `&amp;`, `&lt;`, `&gt;`.

    Idempotent: an `&amp;`, `&lt;` or `&gt;` already in the text is kept, because text that came
    from Slack (a slash command's text, with `should_escape`) arrives escaped, and escaping it
    again would show the entities. Keeping them is safe: an entity displays as its character
    and is never parsed as markup, and no `<` or `>` survives."""
    return _BARE_AMP_RE.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")
