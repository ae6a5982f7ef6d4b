"""The bot token checked at start (`serve`, `socket`, `worker`): Slack's `auth.test`.

A placeholder copied from `.env.example`, a revoked token or a user token stops the process with
one line naming SLACK_BOT_TOKEN (a ConfigError, exit 2) before it says it is running. Slack being
unreachable at that moment is only a warning: the process starts and retries its calls.
"""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from app.runtime.settings import FIXES, ConfigError, Settings

# What `auth.test` answers for a token that will never work.
REJECTED = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
    }
)
TIMEOUT_S = 10


def check_bot_token(settings: Settings) -> str | None:
    """Raise ConfigError when Slack rejects SLACK_BOT_TOKEN; a warning to print when Slack
    could not be asked; None when the token works."""
    token = settings.secret("SLACK_BOT_TOKEN")
    if "your-" in token or not token.startswith("xoxb-"):  # .env.example's, or not a bot token
        raise ConfigError(
            f"SLACK_BOT_TOKEN is not a bot token (still the placeholder?): "
            f"{FIXES['SLACK_BOT_TOKEN']}."
        )
    client = WebClient(token=token, base_url=settings.slack_api_url, timeout=TIMEOUT_S)
    try:
        client.auth_test()
    except SlackApiError as exc:
        code = str(exc.response.get("error", "unknown_error"))
        if code in REJECTED:
            raise ConfigError(
                f"SLACK_BOT_TOKEN was refused by Slack ({code}): {FIXES['SLACK_BOT_TOKEN']}."
            ) from None
        return f"Slack's auth.test answered {code}; starting anyway"
    except (SlackClientError, OSError, TimeoutError) as exc:
        name = type(exc).__name__
        return f"could not reach Slack to check SLACK_BOT_TOKEN ({name}); starting anyway"
    return None
