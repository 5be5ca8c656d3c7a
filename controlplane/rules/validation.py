"""Small input checks shared by several rules."""

from __future__ import annotations

import re
import unicodedata

from controlplane.rules.errors import InvalidCode, InvalidLimit, InvalidName

_REGION_CODE = re.compile(r"^[A-Z][A-Z0-9_-]{0,31}$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def clean_name(raw: str, *, what: str = "name", field: str = "name") -> str:
    name = " ".join(raw.split())
    if not name:
        raise InvalidName(f"{what} must not be empty", field=field)
    if len(name) > 200:
        raise InvalidName(f"{what} must be at most 200 characters", field=field)
    # Category Cc: C0, DEL and the C1 range (U+0080-U+009F, where U+009B is a terminal CSI).
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise InvalidName(f"{what} must not contain control characters", field=field)
    return name


def region_code(raw: str) -> str:
    """Region codes are upper-case (SPEC §1): ``eu`` is taken as ``EU``."""
    code = raw.strip().upper()
    if not _REGION_CODE.match(code):
        raise InvalidCode(
            f"region code {raw.strip()!r} must be 1-32 letters, digits, '-' or '_', "
            "starting with a letter",
            field="code",
        )
    return code


def slug(raw: str, *, what: str, field: str = "code") -> str:
    """Database and plan codes: lower-case slugs such as ``eu-db-1`` or ``pro``."""
    code = raw.strip().lower()
    if not _SLUG.match(code):
        raise InvalidCode(
            f"{what} {raw.strip()!r} must be 1-64 lower-case letters, digits, '.', '-' or '_'",
            field=field,
        )
    return code


def non_negative(value: int | None, *, what: str, field: str) -> int | None:
    if value is None:
        return None
    if value < 0 or value > 2**31 - 1:
        raise InvalidLimit(f"{what} must be between 0 and {2**31 - 1}", field=field)
    return value
