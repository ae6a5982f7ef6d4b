"""Settings: exactly the environment variables of PRODUCT.md, read from the environment and `.env`.

Errors never echo a value: a token pasted into the wrong variable must not end up in a terminal
scrollback or a CI log.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(Exception):
    """A setting is missing or malformed. The message names it and says how to fix it."""


# How to fix each setting, shown when it is missing or malformed.
FIXES: dict[str, str] = {
    "SLACK_BOT_TOKEN": "set it to the app's Bot User OAuth Token (xoxb-…) from OAuth & Permissions",
    "SLACK_SIGNING_SECRET": "set it to the Signing Secret from the Slack app's Basic Information",
    "SLACK_APP_TOKEN": "set it to an app-level token (xapp-…) with connections:write, "
    "from Basic Information → App-Level Tokens",
    "SLACK_API_URL": "set it to an http(s) URL such as https://slack.com/api/",
    "OPENAI_API_KEY": "set it to an API key for your model provider, or unset it for the "
    "offline engine",
    "OPENAI_BASE_URL": "set it to the http(s) base URL of an OpenAI-compatible server",
    "OPENAI_MODEL": "set it to a model name such as gpt-4o-mini",
    "AZURE_OPENAI_ENDPOINT": "set it to your Azure OpenAI resource's endpoint, such as "
    "https://my-resource.openai.azure.com/",
    "AZURE_OPENAI_API_KEY": "set it to a key of the Azure OpenAI resource (Keys and Endpoint), "
    "or unset AZURE_OPENAI_ENDPOINT",
    "OPENAI_API_VERSION": "set it to an Azure OpenAI API version such as 2024-10-21",
    "AZURE_OPENAI_DEPLOYMENTS": "set it to model=deployment pairs separated by commas, such as "
    "gpt-4o-mini=my-mini,gpt-4o=my-big",
    "STEWARD_ENGINE": "set it to 'openai' or 'offline', or unset it to choose automatically",
    "REDIS_URL": "set it to a URL such as redis://localhost:6379/0, or unset it to use the "
    "embedded Valkey server",
    "STEWARD_POLICY": "set it to the path of a readable policy YAML file",
    "STEWARD_DATA_DIR": "set it to a writable directory",
    "STEWARD_MAX_BODY_BYTES": "set it to a whole number of bytes such as 1048576 (1 MiB), "
    "or unset it",
    "STEWARD_USER_JOBS_IN_FLIGHT": "set it to a whole number of jobs (0 for no cap)",
    "STEWARD_AUDIT_SIGNING_KEY": "set it to an Ed25519 private key: PEM (PKCS#8) or the base64 "
    "of its 32-byte seed, or unset it",
    "STEWARD_AUDIT_SIGNING_KEY_FILE": "set it to the path of a readable Ed25519 private key file "
    "(PEM, or the base64 of its 32-byte seed)",
    "STEWARD_AUDIT_CHECKPOINT_FILE": "set it to a writable file path, or unset it for "
    "STEWARD_DATA_DIR/audit-checkpoints.jsonl",
    "STEWARD_AUDIT_CHECKPOINT_EVERY": "set it to a whole number of events, 1 or more",
    "STEWARD_AUDIT_CHECKPOINT_SECONDS": "set it to a whole number of seconds, 10 or more",
    "STEWARD_AUDIT_LOG_ID": "set it to a short name for this log, such as acme-steward-prod",
    "STEWARD_AUDIT_S3_ENDPOINT_URL": "set it to the http(s) URL of an S3-compatible server, "
    "or unset it for AWS S3",
    "STEWARD_AUDIT_CHECKPOINT_S3_RETAIN_DAYS": "set it to a whole number of days, 1 or more",
    "STEWARD_AUDIT_SPLUNK_URL": "set it to the http(s) URL of a Splunk HTTP Event Collector, "
    "such as https://splunk.example.com:8088",
    "STEWARD_AUDIT_SPLUNK_TOKEN": "set it to the HEC token of that collector, or unset "
    "STEWARD_AUDIT_SPLUNK_URL",
    "STEWARD_AUDIT_SYSLOG_URL": "set it to tcp://host:port, or tls://host:port for TLS",
    "STEWARD_AUDIT_SYSLOG_CA_FILE": "set it to a readable PEM file of the CA that signed the "
    "syslog server's certificate, or unset it to use the system's",
    "STEWARD_AUDIT_OTLP_URL": "set it to the http(s) base URL of an OTLP/HTTP collector, such as "
    "http://otel-collector:4318",
    "STEWARD_AUDIT_OTLP_HEADERS": "set it to name=value pairs separated by commas, such as "
    "Authorization=Bearer abc,X-Tenant=acme",
}


def _check_http_url(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("not an http(s) URL")
    return value


def parse_deployments(value: str) -> dict[str, str]:
    """`gpt-4o-mini=my-mini, gpt-4o=big` -> {"gpt-4o-mini": "my-mini", "gpt-4o": "big"}."""
    return _pairs(value, "model=deployment")


def _pairs(value: str, shape: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in value.split(","):
        if not item.strip():
            continue
        name, sep, setting = item.partition("=")
        if not sep or not name.strip() or not setting.strip():
            raise ValueError(f"not a list of {shape} pairs")
        pairs[name.strip()] = setting.strip()
    return pairs


class Settings(BaseSettings):
    """Process configuration. Optional here; each command states what it requires."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    # Azure OpenAI: when the endpoint is set, model calls go through the SDK's Azure client; the
    # policy's model names map to deployments (unlisted: the deployment is named like the model).
    azure_openai_endpoint: str | None = None
    azure_openai_api_key: SecretStr | None = None
    openai_api_version: str = "2024-10-21"
    azure_openai_deployments: str | None = None
    steward_engine: Literal["openai", "offline"] | None = None
    redis_url: str | None = None
    steward_policy: Path | None = None
    steward_data_dir: Path = Path(".steward")
    # The largest request body serve reads (Slack's own payloads stay far below 1 MiB): a bigger
    # one is refused with 413 before it is read, signed or not.
    steward_max_body_bytes: int = 1024 * 1024

    @field_validator("steward_max_body_bytes")
    @classmethod
    def _max_body(cls, value: int) -> int:
        if value < 1024:
            raise ValueError("below 1024 bytes")
        return value

    # A person's requests running at once; the next is refused at once (0: no cap).
    steward_user_jobs_in_flight: int = 3
    # How long the members of a Slack user group (`@eng-managers` in the policy) are trusted
    # before Slack is asked again; a policy reload forgets them at once.
    steward_group_cache_seconds: int = Field(default=60, ge=1)

    # Signed checkpoints of the audit log (app/audit/signing.py, app/audit/checkpoints.py). The
    # key is never read from Redis: whoever can write the log must not be able to sign for it.
    steward_audit_signing_key: SecretStr | None = None
    steward_audit_signing_key_file: Path | None = None
    steward_audit_checkpoint_file: Path | None = None
    steward_audit_checkpoint_every: int = 1000  # events since the last checkpoint
    steward_audit_checkpoint_seconds: int = 3600  # or this long, if any event came meanwhile
    steward_audit_log_id: str | None = None  # default: steward/<public key fingerprint prefix>
    # Object storage for the audit log (app/audit/s3.py, boto3; credentials and region from the
    # standard AWS_* environment variables): archives, and checkpoints under Object Lock.
    steward_audit_s3_endpoint_url: str | None = None  # an S3-compatible server; unset: AWS
    steward_audit_archive_s3_bucket: str | None = None
    steward_audit_archive_s3_prefix: str = "steward/audit/archive/"
    steward_audit_checkpoint_s3_bucket: str | None = None  # must have Object Lock enabled
    steward_audit_checkpoint_s3_prefix: str = "steward/audit/checkpoints/"
    steward_audit_checkpoint_s3_retain_days: int = Field(default=3650, ge=1)

    # Audit sinks (app/audit/sinks.py): every event is forwarded, at least once, to each set.
    steward_audit_splunk_url: str | None = None
    steward_audit_splunk_token: SecretStr | None = None
    steward_audit_splunk_index: str | None = None
    steward_audit_syslog_url: str | None = None
    steward_audit_syslog_ca_file: Path | None = None
    steward_audit_otlp_url: str | None = None
    steward_audit_otlp_headers: SecretStr | None = None  # may carry a token

    @field_validator(
        "steward_audit_splunk_url", "steward_audit_otlp_url", "steward_audit_s3_endpoint_url"
    )
    @classmethod
    def _sink_url(cls, value: str | None) -> str | None:
        return _check_http_url(value)

    @field_validator("steward_audit_syslog_url")
    @classmethod
    def _syslog_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("tcp", "tls") or not parts.hostname or not parts.port:
            raise ValueError("not a tcp://host:port or tls://host:port URL")
        return value

    @field_validator("steward_audit_otlp_headers")
    @classmethod
    def _otlp_headers(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            _pairs(value.get_secret_value(), "name=value")
        return value or None

    @property
    def otlp_headers(self) -> dict[str, str]:
        raw = self.steward_audit_otlp_headers
        return _pairs(raw.get_secret_value(), "name=value") if raw else {}

    @field_validator("steward_audit_checkpoint_every")
    @classmethod
    def _every(cls, value: int) -> int:
        if value < 1:
            raise ValueError("below 1")
        return value

    @field_validator("steward_audit_checkpoint_seconds")
    @classmethod
    def _seconds(cls, value: int) -> int:
        if value < 10:
            raise ValueError("below 10 seconds")
        return value

    @property
    def checkpoint_file(self) -> Path:
        return self.steward_audit_checkpoint_file or (
            self.steward_data_dir / "audit-checkpoints.jsonl"
        )

    @field_validator("slack_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        checked = _check_http_url(value) or "https://slack.com/api/"
        # slack_sdk joins method names onto the base URL, so it must end with a slash.
        return checked if checked.endswith("/") else checked + "/"

    @field_validator("openai_base_url", "azure_openai_endpoint")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        return _check_http_url(value)

    @field_validator("azure_openai_deployments")
    @classmethod
    def _deployments(cls, value: str | None) -> str | None:
        if value:
            parse_deployments(value)
        return value or None

    @property
    def deployments(self) -> dict[str, str]:
        """AZURE_OPENAI_DEPLOYMENTS as policy model name -> deployment name."""
        return parse_deployments(self.azure_openai_deployments or "")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("not a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("steward_engine", mode="before")
    @classmethod
    def _engine(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def engine(self) -> Literal["openai", "offline"]:
        """The engine in effect: explicit setting, else OpenAI when a key is present."""
        if self.steward_engine is not None:
            return self.steward_engine
        return "openai" if self.openai_api_key or self.azure_openai_api_key else "offline"

    def require(self, *names: str) -> None:
        """Fail with one clear line for the first required setting that is unset."""
        for name in names:
            value = getattr(self, name.lower())
            if value is None or (isinstance(value, SecretStr) and not value.get_secret_value()):
                raise ConfigError(f"{name} is not set: {FIXES[name]}.")

    def secret(self, name: str) -> str:
        """The plain value of a required secret setting (call `require` first)."""
        value = getattr(self, name.lower())
        if not isinstance(value, SecretStr):
            raise ConfigError(f"{name} is not set: {FIXES[name]}.")
        return value.get_secret_value()


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation errors into a ConfigError that names the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "configuration"
        # Deliberately not exc's text: pydantic includes the offending value.
        problem = first["msg"].removeprefix("Value error, ")
        fix = FIXES.get(name, "check its value")
        raise ConfigError(f"{name} is malformed ({problem}): {fix}.") from None
