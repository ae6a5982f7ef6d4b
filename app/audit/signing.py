"""The Ed25519 key that signs audit checkpoints, and how a public key is written and named.

The private key comes from STEWARD_AUDIT_SIGNING_KEY (PEM, or the base64 of the 32-byte seed)
or STEWARD_AUDIT_SIGNING_KEY_FILE (either form), never from Redis: whoever can rewrite the log
must not also be able to sign for it. With neither set (a laptop, the demo), a key is generated
at first use under STEWARD_DATA_DIR, readable by its owner only, and a warning says that
production needs a key held elsewhere. Nothing here ever logs or prints a private key.

A public key is written as the base64 of its 32 raw bytes; its fingerprint is the SHA-256 of
those bytes in hex, which checkpoints and evidence packages name.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from app.runtime.settings import FIXES, ConfigError, Settings

log = logging.getLogger(__name__)

GENERATED_NAME = "audit-signing-key.pem"


def load_signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The configured key, else the one generated under STEWARD_DATA_DIR (made on first use)."""
    if settings.steward_audit_signing_key is not None:
        text = settings.steward_audit_signing_key.get_secret_value()
        return _private_key(text.encode(), "STEWARD_AUDIT_SIGNING_KEY")
    if settings.steward_audit_signing_key_file is not None:
        name = "STEWARD_AUDIT_SIGNING_KEY_FILE"
        try:
            data = settings.steward_audit_signing_key_file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{name} is unreadable ({exc.strerror}): {FIXES[name]}.") from None
        return _private_key(data, name)
    return _generated(settings.steward_data_dir / GENERATED_NAME)


def configured_public_key(settings: Settings) -> Ed25519PublicKey | None:
    """The public half of the configured (or already generated) key; None when there is none.
    Unlike `load_signing_key`, never makes one: a verifier must not invent the key it checks."""
    generated = settings.steward_data_dir / GENERATED_NAME
    if (
        settings.steward_audit_signing_key is None
        and settings.steward_audit_signing_key_file is None
        and not generated.exists()
    ):
        return None
    return load_signing_key(settings).public_key()


def _generated(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        return _private_key(path.read_bytes(), str(path))
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return _private_key(path.read_bytes(), str(path))
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    log.warning(
        "generated an audit signing key next to the data; production needs a key held "
        "elsewhere (STEWARD_AUDIT_SIGNING_KEY or STEWARD_AUDIT_SIGNING_KEY_FILE)",
        extra={"key_file": str(path), "fingerprint": fingerprint(key.public_key())},
    )
    return key


def _private_key(data: bytes, source: str) -> Ed25519PrivateKey:
    fix = FIXES.get(source, FIXES["STEWARD_AUDIT_SIGNING_KEY_FILE"])
    text = data.strip()
    try:
        if text.startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(text, password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm):
        raise ConfigError(f"{source} is malformed (not an Ed25519 private key): {fix}.") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"{source} is malformed (not an Ed25519 key): {fix}.")
    return key


def public_key_text(key: Ed25519PublicKey) -> str:
    return base64.b64encode(_raw(key)).decode("ascii")


def fingerprint(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(_raw(key)).hexdigest()


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key as `steward audit public-key` prints it (base64 of 32 bytes), as PEM, or
    the path of a file holding either. ValueError when it is none of these."""
    value = text.strip()
    if not value.startswith("-----BEGIN") and len(value) != 44 and Path(value).is_file():
        value = Path(value).read_text(encoding="utf-8").strip()
    try:
        if value.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(value.encode())
        else:
            raw = base64.b64decode(value, validate=True)
            if base64.b64encode(raw).decode("ascii") != value:  # one spelling per key
                raise ValueError("not canonical base64")
            key = Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError, binascii.Error, UnsupportedAlgorithm):
        raise ValueError("not an Ed25519 public key (base64 of 32 bytes, or PEM)") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 public key")
    return key


def _raw(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
