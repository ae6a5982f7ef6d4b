"""A signed checkpoint: the audit log's Merkle tree size and root, at a time, signed with Ed25519.

What is signed is a short text, so anyone can re-check a checkpoint with any Ed25519 tool:

    steward-audit-checkpoint/v1
    <log id>
    <tree size>
    <root hash, lowercase hex>
    <time, ISO-8601 UTC>

`key` names the public key by its fingerprint (`app.audit.signing`); `signature` is base64.
A checkpoint proves nothing where the log's owner could rewrite it: it is published to an
append-only file and a Slack channel (`app.audit.published`).
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field

from app.audit.signing import fingerprint

HEADER = "steward-audit-checkpoint/v1"
HEX64 = r"^[0-9a-f]{64}$"


class Checkpoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    log_id: str = Field(min_length=1, pattern=r"^[^\n]+$")
    size: int = Field(ge=0)
    root: str = Field(pattern=HEX64)
    at: str = Field(pattern=r"^[^\n]+$")
    key: str = Field(pattern=HEX64)
    signature: str

    @classmethod
    def sign(
        cls, key: Ed25519PrivateKey, *, log_id: str, size: int, root: bytes, at: str
    ) -> Checkpoint:
        text = _text(log_id=log_id, size=size, root=root.hex(), at=at)
        return cls(
            log_id=log_id,
            size=size,
            root=root.hex(),
            at=at,
            key=fingerprint(key.public_key()),
            signature=base64.b64encode(key.sign(text)).decode("ascii"),
        )

    @property
    def root_bytes(self) -> bytes:
        return bytes.fromhex(self.root)

    def signed_text(self) -> bytes:
        return _text(log_id=self.log_id, size=self.size, root=self.root, at=self.at)

    def signed_by(self, public: Ed25519PublicKey) -> bool:
        """Whether `public` made this signature over exactly these fields."""
        if self.key != fingerprint(public):
            return False
        try:
            signature = base64.b64decode(self.signature, validate=True)
            public.verify(signature, self.signed_text())
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        # Only the canonical spelling: a changed padding bit must not pass as the same signature.
        return base64.b64encode(signature).decode("ascii") == self.signature

    def line(self) -> str:
        """One JSON line, as the checkpoint file and a Slack message carry it."""
        return self.model_dump_json()


def _text(*, log_id: str, size: int, root: str, at: str) -> bytes:
    return f"{HEADER}\n{log_id}\n{size}\n{root}\n{at}\n".encode()
