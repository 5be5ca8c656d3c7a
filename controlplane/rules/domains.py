"""Allowed domains and redirect URIs of an app (SPEC §1 App creation, rules 2 and 3).

An app's allowed domains are compared, stored and shown in one canonical form, so that
``https://App.Example.com/`` and ``app.example.com`` are recognised as the same domain and an
IDN is stored as the punycode a browser would send. Redirect and post-logout URIs, in contrast,
are matched as exact strings (RFC 6749 §3.1.2.3), so they are validated but kept as given.

Everything here is pure: no Flask, no database, so every face (CLI, API, dashboard) gets the
same answer and the same user-facing message for the same input.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from urllib.parse import urlsplit

import idna

from controlplane.rules.errors import (
    DuplicateDomain,
    InvalidDomain,
    InvalidRedirectUri,
    TooManyDomains,
)

__all__ = [
    "MAX_DOMAINS",
    "MAX_DOMAIN_INPUT_LENGTH",
    "MAX_REDIRECT_URIS",
    "MAX_REDIRECT_URI_LENGTH",
    "normalize_domain",
    "normalize_domains",
    "normalize_redirect_uris",
]

MAX_DOMAINS = 3
MAX_DOMAIN_INPUT_LENGTH = 300
MAX_REDIRECT_URIS = 10
MAX_REDIRECT_URI_LENGTH = 2000

_DOMAINS_FIELD = "allowed_domains"
_MAX_HOST_LENGTH = 253
_MAX_LABEL_LENGTH = 63
_MAX_QUOTED = 80

_SCHEME_WITH_SLASHES = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_SCHEME_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9+\-]*):(.*)$", re.DOTALL)
_ALLOWED_SCHEMES = frozenset({"http", "https"})
_LABEL_CHARS = re.compile(r"^[a-z0-9-]+$")
_PORT = re.compile(r"^[0-9]+$")
_FORBIDDEN_REDIRECT_SCHEMES = frozenset({"javascript", "data", "vbscript"})
_EXAMPLE = "write it like app.example.com or localhost:3000"


def _quote(text: str) -> str:
    """Quote user input for a message: repr escapes control characters, long input is cut."""
    if len(text) > _MAX_QUOTED:
        text = text[: _MAX_QUOTED - 3] + "..."
    return repr(text)


def _has_space_or_control(text: str) -> bool:
    return any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in text)


def normalize_domain(raw: str) -> str:
    """Return the canonical ``host`` or ``host:port`` form of one allowed domain.

    SPEC §1 App creation rule 2 lets tenants paste what their browser shows (a scheme, a
    trailing slash, upper case, a Unicode name), so those are normalized away; anything that is
    more than an origin's host and port (wildcards, paths, queries, fragments, user-info, IP
    addresses, other schemes) is refused rather than silently trimmed, because an allowed
    domain that matches something other than what the tenant meant is a security problem.

    Raises :class:`InvalidDomain` (without ``field``; :func:`normalize_domains` adds it).
    """
    if not isinstance(raw, str):
        raise InvalidDomain("domain must be a string")
    if len(raw) > MAX_DOMAIN_INPUT_LENGTH:
        raise InvalidDomain(
            f"{_quote(raw)}: too long (at most {MAX_DOMAIN_INPUT_LENGTH} characters)"
        )
    text = raw.strip()
    if not text:
        raise InvalidDomain("domain is empty")
    q = _quote(text)
    if _has_space_or_control(text):
        raise InvalidDomain(f"{q}: spaces and control characters are not allowed")

    rest = _strip_scheme(text, q)
    if rest.endswith("/"):
        rest = rest[:-1]
    if not rest:
        raise InvalidDomain(f"{q}: no domain given; {_EXAMPLE}")
    if "*" in rest:
        raise InvalidDomain(f"{q}: wildcards are not allowed; list each domain explicitly")

    authority, delimiter = _split_authority(rest)
    if "@" in authority:
        raise InvalidDomain(f"{q}: user names and passwords (user@) are not allowed")
    if delimiter == "/":
        raise InvalidDomain(f"{q}: paths are not allowed; give only the domain")
    if delimiter == "?":
        raise InvalidDomain(f"{q}: queries (?...) are not allowed; give only the domain")
    if delimiter == "#":
        raise InvalidDomain(f"{q}: fragments (#...) are not allowed; give only the domain")

    host, port = _split_port(authority, q)
    host = _to_ascii_host(host, q)
    if host != "localhost":
        _check_dns_name(host, q)
    return host if port is None else f"{host}:{port}"


def _strip_scheme(text: str, q: str) -> str:
    """Remove a leading ``http://`` / ``https://`` and refuse any other scheme."""
    match = _SCHEME_WITH_SLASHES.match(text)
    if match:
        scheme = match.group(1).lower()
        if scheme not in _ALLOWED_SCHEMES:
            raise InvalidDomain(
                f"{q}: only http:// or https:// may precede the domain, not {scheme}://"
            )
        rest = text[match.end() :]
        if "://" in rest:
            raise InvalidDomain(f"{q}: give the scheme at most once; {_EXAMPLE}")
        return rest
    # "javascript:alert(1)", "mailto:x", "http:example.com": a scheme without "//". Told apart
    # from "localhost:3000" / "example.com:8080" by a dot-free, non-localhost name before the
    # colon and a non-numeric remainder (a port would be numeric).
    prefix = _SCHEME_PREFIX.match(text)
    if prefix:
        name, after = prefix.group(1), prefix.group(2)
        port_part = re.split(r"[/?#]", after, maxsplit=1)[0]
        if name.lower() != "localhost" and not _PORT.match(port_part):
            raise InvalidDomain(
                f"{q}: {name.lower()}: is not allowed; only http:// or https:// may "
                f"precede the domain ({_EXAMPLE})"
            )
    return text


def _split_authority(rest: str) -> tuple[str, str | None]:
    """Split at the first ``/``, ``?`` or ``#``; return the authority and that delimiter."""
    for index, ch in enumerate(rest):
        if ch in "/?#":
            return rest[:index], ch
    return rest, None


def _split_port(authority: str, q: str) -> tuple[str, int | None]:
    if authority.startswith("[") or "]" in authority or authority.count(":") > 1:
        raise InvalidDomain(f"{q}: IP addresses are not allowed; use a DNS name")
    host, colon, port_text = authority.partition(":")
    if not host:
        raise InvalidDomain(f"{q}: no host given; {_EXAMPLE}")
    if not colon:
        return host, None
    if not port_text:
        raise InvalidDomain(f"{q}: port is empty; remove the ':' or give a port 1-65535")
    if not _PORT.match(port_text) or port_text.startswith("0") or len(port_text) > 5:
        raise InvalidDomain(f"{q}: port must be 1-65535 without leading zeros")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise InvalidDomain(f"{q}: port must be 1-65535 without leading zeros")
    return host, port


def _to_ascii_host(host: str, q: str) -> str:
    """Lower-case the host; map an IDN to punycode (IDNA2008 with UTS #46, as browsers do)."""
    if host.isascii():
        ascii_host = host.lower()
    else:
        try:
            ascii_host = idna.encode(host, uts46=True).decode("ascii").lower()
        except UnicodeError as exc:  # idna.IDNAError is a UnicodeError
            raise InvalidDomain(f"{q}: not a valid internationalized domain name ({exc})") from exc
    if ascii_host.endswith("."):
        raise InvalidDomain(f"{q}: remove the trailing dot")
    return ascii_host


def _check_dns_name(host: str, q: str) -> None:
    """Refuse anything but a dotted LDH name (RFC 1123), including IPv4 addresses."""
    labels = host.split(".")
    if len(labels) < 2:
        raise InvalidDomain(
            f"{q}: must be a full domain name with a dot (like app.example.com) or localhost"
        )
    if len(host) > _MAX_HOST_LENGTH:
        raise InvalidDomain(f"{q}: domain name is longer than {_MAX_HOST_LENGTH} characters")
    if labels[-1].isdigit():
        raise InvalidDomain(
            f"{q}: the last part must not be all digits (IP addresses are not allowed; "
            "use a DNS name)"
        )
    for label in labels:
        if not label:
            raise InvalidDomain(f"{q}: empty label (two dots in a row, or a leading dot)")
        if len(label) > _MAX_LABEL_LENGTH:
            raise InvalidDomain(
                f"{q}: each part between dots must be at most {_MAX_LABEL_LENGTH} characters"
            )
        if not _LABEL_CHARS.match(label):
            raise InvalidDomain(
                f"{q}: only letters, digits, hyphens and dots are allowed in a domain name"
            )
        if label.startswith("-") or label.endswith("-"):
            raise InvalidDomain(f"{q}: a part between dots must not start or end with '-'")
        if label.startswith("xn--"):
            _check_a_label(label, q)


def _check_a_label(label: str, q: str) -> None:
    """Refuse a punycode label unless it decodes to a valid IDN and re-encodes to itself."""
    try:
        valid = idna.alabel(idna.ulabel(label)) == label.encode("ascii")
    except UnicodeError as exc:
        raise InvalidDomain(f"{q}: {label!r} is not valid punycode ({exc})") from exc
    if not valid:
        raise InvalidDomain(f"{q}: {label!r} is not valid punycode")


def normalize_domains(raws: Sequence[str]) -> list[str]:
    """Normalize an app's allowed domains (SPEC §1 App creation rule 2: 0..3, no duplicates).

    Duplicates are judged after normalization, since ``https://A.example.com/`` and
    ``a.example.com`` grant the same origin. Order is kept so the tenant sees what they typed.
    Every error carries ``field="allowed_domains"``.
    """
    if isinstance(raws, str | bytes) or not isinstance(raws, Sequence):
        raise InvalidDomain("allowed domains must be a list of strings", field=_DOMAINS_FIELD)
    if len(raws) > MAX_DOMAINS:
        raise TooManyDomains(
            f"at most {MAX_DOMAINS} allowed domains; got {len(raws)}", field=_DOMAINS_FIELD
        )
    result: list[str] = []
    first_raw: dict[str, str] = {}
    for raw in raws:
        try:
            domain = normalize_domain(raw)
        except InvalidDomain as exc:
            raise InvalidDomain(exc.message, field=_DOMAINS_FIELD) from exc
        if domain in first_raw:
            raise DuplicateDomain(
                f"{_quote(raw.strip())} is the same domain as {_quote(first_raw[domain].strip())}"
                f" ({domain})",
                field=_DOMAINS_FIELD,
            )
        first_raw[domain] = raw
        result.append(domain)
    return result


def normalize_redirect_uris(raws: Sequence[str], *, field: str) -> list[str]:
    """Validate redirect or post-logout URIs (SPEC §1 App creation rule 3).

    Each must be an absolute URI with a scheme and a host, so it can only send the browser
    where the tenant intends; no fragment (RFC 6749 §3.1.2). URIs are matched as exact strings
    at redirect time, so they are kept as given apart from surrounding whitespace. ``field``
    names the input (``redirect_uris`` or ``post_logout_redirect_uris``) on every error.
    """
    if isinstance(raws, str | bytes) or not isinstance(raws, Sequence):
        raise InvalidRedirectUri("URIs must be a list of strings", field=field)
    if len(raws) > MAX_REDIRECT_URIS:
        raise InvalidRedirectUri(f"at most {MAX_REDIRECT_URIS} URIs; got {len(raws)}", field=field)
    result: list[str] = []
    for raw in raws:
        uri = _check_redirect_uri(raw, field)
        if uri in result:
            raise InvalidRedirectUri(f"{_quote(uri)} is listed twice", field=field)
        result.append(uri)
    return result


def _check_redirect_uri(raw: str, field: str) -> str:
    if not isinstance(raw, str):
        raise InvalidRedirectUri("URI must be a string", field=field)
    if len(raw) > MAX_REDIRECT_URI_LENGTH * 2:  # cap before doing any work on huge input
        raise InvalidRedirectUri(
            f"URI is too long (at most {MAX_REDIRECT_URI_LENGTH} characters)", field=field
        )
    uri = raw.strip()
    if not uri:
        raise InvalidRedirectUri("URI is empty", field=field)
    q = _quote(uri)
    if len(uri) > MAX_REDIRECT_URI_LENGTH:
        raise InvalidRedirectUri(
            f"{q}: too long (at most {MAX_REDIRECT_URI_LENGTH} characters)", field=field
        )
    if _has_space_or_control(uri):
        raise InvalidRedirectUri(f"{q}: spaces and control characters are not allowed", field=field)
    if not uri.isascii():
        raise InvalidRedirectUri(
            f"{q}: must be ASCII; percent-encode the path and use punycode for the host",
            field=field,
        )
    if "#" in uri:
        raise InvalidRedirectUri(f"{q}: must not contain a fragment (#...)", field=field)
    absolute = (
        f"{q}: must be an absolute URI with a scheme and a host, "
        "like https://app.example.com/callback"
    )
    try:
        parts = urlsplit(uri)
        host = parts.hostname
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError as exc:
        raise InvalidRedirectUri(f"{q}: not a valid URI ({exc})", field=field) from exc
    if not parts.scheme or not host:
        raise InvalidRedirectUri(absolute, field=field)
    if parts.scheme.lower() in _FORBIDDEN_REDIRECT_SCHEMES:
        raise InvalidRedirectUri(f"{q}: {parts.scheme}: URIs are not allowed", field=field)
    return uri
