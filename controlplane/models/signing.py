"""Signing keys for access tokens (SPEC §2): next → current → retired."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.models.base import Base, CreatedAt


class KeyState(enum.StrEnum):
    NEXT = "next"
    CURRENT = "current"
    RETIRED = "retired"


class SigningKey(Base):
    __tablename__ = "signing_key"
    __table_args__ = (
        CheckConstraint("state IN ('next', 'current', 'retired')", name="state"),
        # At most one current and one next key: two workers starting at once cannot both
        # create a key set, the loser's insert fails and it reads the winner's.
        Index(
            "uq_signing_key_one_current",
            "state",
            unique=True,
            postgresql_where=text("state = 'current'"),
            sqlite_where=text("state = 'current'"),
        ),
        Index(
            "uq_signing_key_one_next",
            "state",
            unique=True,
            postgresql_where=text("state = 'next'"),
            sqlite_where=text("state = 'next'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(String(64), unique=True)
    alg: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    # PKCS#8 DER of the private key, MultiFernet-encrypted with CONTROLPLANE_ENCRYPTION_KEYS.
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[CreatedAt]
    activated_at: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]
