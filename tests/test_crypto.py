"""controlplane.crypto: client-secret digests (SPEC §1.5) and encryption at rest (SPEC §1)."""

from __future__ import annotations

import hashlib
import hmac
import re
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken

from controlplane import crypto
from controlplane.crypto import Encryptor


# --- client secrets ---------------------------------------------------------------------------
def test_a_generated_secret_carries_at_least_256_bits() -> None:
    """SPEC §1.5: secrets are ≥256-bit random (43+ url-safe base64 characters)."""
    secrets = {crypto.generate_secret() for _ in range(50)}

    assert len(secrets) == 50
    for secret in secrets:
        assert re.fullmatch(r"[A-Za-z0-9_-]{43,}", secret)
    assert crypto.SECRET_BYTES * 8 >= 256


def test_a_generated_client_id_is_short_unique_and_url_safe() -> None:
    client_ids = {crypto.generate_client_id() for _ in range(50)}

    assert len(client_ids) == 50
    assert all(re.fullmatch(r"[0-9a-f]{24}", c) for c in client_ids)


def test_the_stored_hash_is_a_32_byte_sha256_digest() -> None:
    """SPEC §1.5: a fast plain SHA-256 hash is the right store for random secrets."""
    secret = crypto.generate_secret()

    digest = crypto.hash_secret(secret)

    assert isinstance(digest, bytes)
    assert len(digest) == 32
    assert digest == hashlib.sha256(secret.encode()).digest()
    assert secret.encode() not in digest


def test_the_right_secret_matches_and_any_other_does_not() -> None:
    secret = crypto.generate_secret()
    digest = crypto.hash_secret(secret)

    assert crypto.secret_matches(secret, digest) is True
    for other in (secret[:-1], secret + "x", secret.swapcase(), "", crypto.generate_secret()):
        assert crypto.secret_matches(other, digest) is False


def test_a_stored_digest_of_the_wrong_length_never_matches() -> None:
    secret = crypto.generate_secret()
    digest = crypto.hash_secret(secret)

    assert crypto.secret_matches(secret, digest[:16]) is False
    assert crypto.secret_matches(secret, b"") is False
    assert crypto.secret_matches(secret, digest + b"\0") is False


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """Every pair of digests secret_matches hands to hmac.compare_digest."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)  # crypto calls hmac.compare_digest
    return calls


def test_a_known_client_is_checked_in_constant_time(compared: list[tuple[bytes, bytes]]) -> None:
    digest = crypto.hash_secret("the secret")

    assert crypto.secret_matches("a guess", digest) is False

    assert compared == [(crypto.hash_secret("a guess"), digest)]


def test_an_unknown_client_costs_a_comparison_with_the_dummy_digest(
    compared: list[tuple[bytes, bytes]],
) -> None:
    """An unknown client_id does the same work as a wrong secret, so timing reveals nothing."""
    assert crypto.secret_matches("a guess", None) is False

    assert compared == [(crypto.hash_secret("a guess"), crypto.DUMMY_DIGEST)]
    assert len(crypto.DUMMY_DIGEST) == 32


def test_the_dummy_digests_own_preimage_does_not_authenticate_an_unknown_client() -> None:
    """Even the secret whose hash *is* the dummy digest gets False for an unknown client."""
    preimage = "controlplane: no such client"
    assert crypto.hash_secret(preimage) == crypto.DUMMY_DIGEST

    assert crypto.secret_matches(preimage, None) is False


# --- encryption at rest -----------------------------------------------------------------------
def test_an_encryptor_round_trips_and_never_repeats_a_ciphertext() -> None:
    encryptor = Encryptor([Fernet.generate_key()])

    first = encryptor.encrypt(b"storage secret")
    second = encryptor.encrypt(b"storage secret")

    assert first != second
    assert b"storage secret" not in first
    assert encryptor.decrypt(first) == encryptor.decrypt(second) == b"storage secret"


def test_encryption_uses_the_first_key_and_decryption_any() -> None:
    """MultiFernet order: newest key first (CONTROLPLANE_ENCRYPTION_KEYS)."""
    key_a, key_b = Fernet.generate_key(), Fernet.generate_key()
    under_a = Encryptor([key_a]).encrypt(b"value")

    both = Encryptor([key_b, key_a])
    assert both.decrypt(under_a) == b"value"
    assert Fernet(key_b).decrypt(both.encrypt(b"value")) == b"value"

    rotated = both.rotate(under_a)
    assert Encryptor([key_b]).decrypt(rotated) == b"value"
    with pytest.raises(InvalidToken):
        Encryptor([key_a]).decrypt(rotated)


def test_a_value_no_configured_key_opens_fails_with_a_clear_error() -> None:
    token = Encryptor([Fernet.generate_key()]).encrypt(b"top secret")

    with pytest.raises(InvalidToken, match="CONTROLPLANE_ENCRYPTION_KEYS") as info:
        Encryptor([Fernet.generate_key()]).decrypt(token)
    assert "top secret" not in str(info.value)
    with pytest.raises(InvalidToken):
        Encryptor([Fernet.generate_key()]).decrypt(b"not a fernet token")


def test_an_encryptor_needs_at_least_one_valid_key() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Encryptor([])
    with pytest.raises(ValueError, match="Fernet key"):
        Encryptor([b"too short"])
