"""Settings: every ``CONTROLPLANE_*`` variable is read and checked here, once (SPEC §4).

A bad value stops start-up with a :class:`ConfigError` naming the variable, so a typo in a
deployment fails loudly instead of running with a surprising default.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

log = logging.getLogger(__name__)

PREFIX = "CONTROLPLANE_"
# The parts one process can serve (CONTROLPLANE_SERVE), so each can scale on its own.
PARTS = ("token", "dashboard", "api")
SIGNING_ALGS = ("RS256", "ES256")


class ConfigError(Exception):
    """A ``CONTROLPLANE_*`` variable has a value the product cannot run with."""


@dataclass(frozen=True)
class SmtpSettings:
    """Where the outbox worker delivers mail; parsed from ``CONTROLPLANE_SMTP_URL``."""

    host: str
    port: int
    use_ssl: bool
    starttls: bool
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Settings:
    """The product's configuration, typed and validated."""

    database_url: str
    secret_key: str = field(repr=False)
    issuer: str
    token_audience: str
    token_lifetime: int
    signing_alg: str
    platform_url: str
    max_apps_per_tenant: int
    smtp: SmtpSettings | None
    mail_from: str
    encryption_keys: tuple[bytes, ...] = field(repr=False)
    google_client_id: str | None
    google_client_secret: str | None = field(repr=False)
    google_metadata_url: str
    instance_path: str
    # Operations (issue #6)
    serve: frozenset[str] = frozenset(PARTS)
    ratelimit_storage_url: str = "memory://"
    ratelimit_failed_auth_per_client: str = "10/minute"
    ratelimit_failed_auth_per_address: str = "30/minute"
    proxy_hops: int = 0
    # How often each process adds its tokens-issued counts to app_usage_day (issue #6).
    usage_flush_seconds: int = 10

    def __repr__(self) -> str:
        # The database URL may carry a password: shown masked, as the other secrets are hidden.
        shown = []
        for item in fields(self):
            if not item.repr:
                continue
            value = getattr(self, item.name)
            if item.name == "database_url":
                value = make_url(value).render_as_string(hide_password=True)
            shown.append(f"{item.name}={value!r}")
        return f"Settings({', '.join(shown)})"

    @property
    def google_enabled(self) -> bool:
        return bool(self.google_client_id and self.google_client_secret)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, instance_path: str) -> Settings:
        """Read the settings from ``environ`` (default ``os.environ``)."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(PREFIX + name)
            if value is None or value.strip() == "":
                return None
            return value.strip()

        instance = get("INSTANCE_PATH") or instance_path
        database_url = _database_url(get("DATABASE_URL") or _default_sqlite_url(instance))
        secret_key = get("SECRET_KEY") or _dev_secret_key(instance)
        if len(secret_key) < 32:
            raise ConfigError(f"{PREFIX}SECRET_KEY must be at least 32 characters long")
        issuer = _http_url("ISSUER", get("ISSUER") or "http://localhost:8000").rstrip("/")
        if "?" in issuer or "#" in issuer:
            # RFC 8414 §2: the issuer identifier has no query or fragment component.
            raise ConfigError(f"{PREFIX}ISSUER must not have a query or fragment, got {issuer!r}")
        platform_url = _http_url("PLATFORM_URL", get("PLATFORM_URL") or issuer)
        alg = (get("SIGNING_ALG") or "RS256").upper()
        if alg not in SIGNING_ALGS:
            raise ConfigError(
                f"{PREFIX}SIGNING_ALG must be one of {', '.join(SIGNING_ALGS)}, got {alg!r}"
            )
        smtp = _smtp(get("SMTP_URL"))
        google_id, google_secret = get("GOOGLE_CLIENT_ID"), get("GOOGLE_CLIENT_SECRET")
        if bool(google_id) != bool(google_secret):
            # Half a configuration is a typo, not a wish to keep Google sign-in off.
            missing = "GOOGLE_CLIENT_SECRET" if google_id else "GOOGLE_CLIENT_ID"
            raise ConfigError(f"{PREFIX}{missing} must be set too to enable Google sign-in")
        host = urlsplit(issuer).hostname or "localhost"
        return cls(
            database_url=database_url,
            secret_key=secret_key,
            issuer=issuer,
            token_audience=get("TOKEN_AUDIENCE") or "api",
            token_lifetime=_int("TOKEN_LIFETIME", get("TOKEN_LIFETIME"), 900, low=60, high=86400),
            signing_alg=alg,
            platform_url=platform_url,
            max_apps_per_tenant=_int(
                "MAX_APPS_PER_TENANT", get("MAX_APPS_PER_TENANT"), 10, low=1, high=1_000_000
            ),
            smtp=smtp,
            mail_from=get("MAIL_FROM") or f"controlplane@{host}",
            encryption_keys=_encryption_keys(get("ENCRYPTION_KEYS"), secret_key),
            google_client_id=google_id,
            google_client_secret=google_secret,
            google_metadata_url=_http_url(
                "GOOGLE_METADATA_URL",
                get("GOOGLE_METADATA_URL")
                or "https://accounts.google.com/.well-known/openid-configuration",
            ),
            instance_path=instance,
            serve=_parts(get("SERVE")),
            ratelimit_storage_url=_storage_url(get("RATELIMIT_STORAGE_URL") or "memory://"),
            ratelimit_failed_auth_per_client=_rate(
                "RATELIMIT_FAILED_AUTH_PER_CLIENT",
                get("RATELIMIT_FAILED_AUTH_PER_CLIENT"),
                "10/minute",
            ),
            ratelimit_failed_auth_per_address=_rate(
                "RATELIMIT_FAILED_AUTH_PER_ADDRESS",
                get("RATELIMIT_FAILED_AUTH_PER_ADDRESS"),
                "30/minute",
            ),
            proxy_hops=_int("PROXY_HOPS", get("PROXY_HOPS"), 0, low=0, high=5),
            usage_flush_seconds=_int(
                "USAGE_FLUSH_SECONDS", get("USAGE_FLUSH_SECONDS"), 10, low=1, high=3600
            ),
        )


def _default_sqlite_url(instance: str) -> str:
    return f"sqlite:///{Path(instance, 'controlplane.db').resolve()}"


def _database_url(url: str) -> str:
    """A URL the installed drivers can open: pysqlite, or psycopg (3) for PostgreSQL."""
    name = f"{PREFIX}DATABASE_URL"
    try:
        drivername = make_url(url).drivername
    except ArgumentError:
        raise ConfigError(f"{name} is not a database URL") from None
    backend, _, driver = drivername.partition("+")
    if (backend, driver or "default") not in {
        ("sqlite", "default"),
        ("sqlite", "pysqlite"),
        ("postgresql", "default"),
        ("postgresql", "psycopg"),
    }:
        raise ConfigError(
            f"{name} must be a sqlite:/// or postgresql+psycopg:// URL, got {drivername!r}"
        )
    if drivername == "postgresql":
        # Older SQLAlchemy reads a bare postgresql:// as psycopg2, which is not installed.
        return "postgresql+psycopg" + url[len("postgresql") :]
    return url


def _dev_secret_key(instance: str) -> str:
    """Keep a generated key in the instance folder so sessions survive a restart in dev.

    Written to a private temporary file and linked into place, so workers starting at once
    agree on one key and none reads a half-written file.
    """
    path = Path(instance, "secret_key")
    verb = "using the one kept"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret_key.")  # mode 0600
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48) + "\n")
            os.link(tmp, path)
            verb = "generated one"
        except FileExistsError:
            pass  # another worker won the race: use its key
        finally:
            os.unlink(tmp)
    # Every start says so: a production deploy that forgot the variable must not go unnoticed.
    log.warning("%sSECRET_KEY is not set: %s in %s (development only).", PREFIX, verb, path)
    return path.read_text().strip()


def _int(name: str, raw: str | None, default: int, *, low: int, high: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{PREFIX}{name} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{PREFIX}{name} must be between {low} and {high}, got {value}")
    return value


def _http_url(name: str, raw: str) -> str:
    """An absolute http(s) URL with a plain host: it ends up in tokens and emails."""
    problem = f"{PREFIX}{name} must be an absolute http(s) URL with a host, got {raw!r}"
    if any(ch.isspace() for ch in raw):
        raise ConfigError(problem)
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise ConfigError(problem) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(problem)
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"{PREFIX}{name} must not carry user:password@ ({raw!r})")
    return raw


def _smtp(raw: str | None) -> SmtpSettings | None:
    if raw is None:
        return None
    name = f"{PREFIX}SMTP_URL"
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ConfigError(f"{name} is not a valid URL") from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError(f"{name} must look like smtp://[user:pass@]host:port or smtps://…")
    query = parse_qs(parts.query)
    starttls_raw = (query.get("starttls") or ["false"])[0].lower()
    if starttls_raw not in ("true", "false", "1", "0", "yes", "no"):
        raise ConfigError(f"{name}: starttls must be true or false")
    use_ssl = parts.scheme == "smtps"
    starttls = starttls_raw in ("true", "1", "yes")
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    if parts.username and not (use_ssl or starttls or loopback):
        # A login over plain smtp:// would send the password in clear text.
        raise ConfigError(
            f"{name}: a user and password need TLS: use smtps:// or add ?starttls=true"
        )
    return SmtpSettings(
        host=parts.hostname,
        port=port or (465 if use_ssl else 25),
        use_ssl=use_ssl,
        starttls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def _encryption_keys(raw: str | None, secret_key: str) -> tuple[bytes, ...]:
    """Fernet keys for data encrypted at rest, newest first (MultiFernet order).

    Without ``CONTROLPLANE_ENCRYPTION_KEYS`` one key is derived from the secret key with HKDF, so a
    development install works out of the box; production sets explicit keys so the session secret
    and the data key can be rotated independently.
    """
    if raw is None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"controlplane encryption key"
        ).derive(secret_key.encode())
        return (base64.urlsafe_b64encode(derived),)
    keys = []
    for position, item in enumerate(raw.split(","), start=1):
        key = item.strip().encode()
        try:
            Fernet(key)
        except ValueError:
            raise ConfigError(
                f"{PREFIX}ENCRYPTION_KEYS: key {position} is not a Fernet key "
                "(32 url-safe base64-encoded bytes; make one with "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)"
            ) from None
        keys.append(key)
    return tuple(keys)


def _parts(raw: str | None) -> frozenset[str]:
    """``CONTROLPLANE_SERVE``: the parts this process serves (``all`` by default).

    For example ``token`` (token endpoint, discovery, JWKS) on the hosts that take the load,
    ``dashboard,api`` on the back-office host.
    """
    if raw is None or raw.strip().lower() == "all":
        return frozenset(PARTS)
    names = {name.strip().lower() for name in raw.split(",") if name.strip()}
    unknown = names - set(PARTS)
    if not names or unknown:
        raise ConfigError(
            f"{PREFIX}SERVE must be 'all' or a comma-separated list of {', '.join(PARTS)}, "
            f"got {raw!r}"
        )
    return frozenset(names)


def _storage_url(raw: str) -> str:
    """The rate limiter's storage (Flask-Limiter / ``limits``): memory or Redis."""
    scheme = urlsplit(raw).scheme.lower()
    if scheme not in ("memory", "redis", "rediss", "redis+unix", "redis+sentinel", "redis+cluster"):
        raise ConfigError(
            f"{PREFIX}RATELIMIT_STORAGE_URL must be memory:// or a redis:// URL, got scheme "
            f"{scheme!r}"
        )
    return raw


def _rate(name: str, raw: str | None, default: str) -> str:
    """A rate in ``limits`` notation (``10/minute``, ``100 per hour``)."""
    from limits import parse_many

    value = raw or default
    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(
            f"{PREFIX}{name} must be a rate such as '10/minute', got {value!r}"
        ) from None
    return value
