"""Client secrets and encryption at rest.

Plain SHA-256 for client secrets: they are 256-bit random (SPEC §1.5), so nobody can brute-force
the digest and a slow KDF would only cap token throughput (see shared/peers/README.md).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

SECRET_BYTES = 32  # 256 bits of entropy (SPEC §1.5)

# Compared against when a client_id is unknown, so an unknown client costs the same as a
# wrong secret and timing reveals nothing about which client_ids exist.
DUMMY_DIGEST = hashlib.sha256(b"controlplane: no such client").digest()


def generate_client_id() -> str:
    return secrets.token_hex(12)


def generate_secret() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(secret: str) -> bytes:
    # surrogatepass: any str hashes (and then fails to match) instead of raising.
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def secret_matches(secret: str, digest: bytes | None) -> bool:
    """Constant-time check of ``secret`` against a stored digest (``None``: unknown client)."""
    candidate = hash_secret(secret)
    return hmac.compare_digest(candidate, DUMMY_DIGEST if digest is None else digest) and (
        digest is not None
    )


class Encryptor:
    """MultiFernet over the configured keys: encrypts with the first, decrypts with any."""

    def __init__(self, keys: Iterable[bytes]) -> None:
        fernets = [Fernet(k) for k in keys]
        if not fernets:
            raise ValueError("at least one encryption key is needed")
        self._fernet = MultiFernet(fernets)

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise InvalidToken(
                "cannot decrypt: none of CONTROLPLANE_ENCRYPTION_KEYS opens this value"
            ) from None

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt under the newest key (after a key was prepended to the list)."""
        return self._fernet.rotate(token)
