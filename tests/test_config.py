"""SPEC §4 Configuration: defaults, checks that name the variable, secrets kept out of reprs."""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from controlplane import create_app
from controlplane.app import state
from controlplane.config import ConfigError, Settings

SECRET = "s" * 40


@pytest.fixture
def settings_from(tmp_path: Path) -> Callable[..., Settings]:
    """``Settings.from_env`` with a secret key (unless given) and the tmp instance folder."""

    def make(**env: str) -> Settings:
        environ = {"CONTROLPLANE_SECRET_KEY": SECRET}
        environ.update({f"CONTROLPLANE_{k}": v for k, v in env.items()})
        return Settings.from_env(environ, instance_path=str(tmp_path / "instance"))

    return make


def test_defaults_are_spec_section_4(
    settings_from: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = settings_from()

    default_db = (tmp_path / "instance" / "controlplane.db").resolve()
    assert settings.database_url == f"sqlite:///{default_db}"
    assert settings.issuer == "http://localhost:8000"
    assert settings.token_audience == "api"
    assert settings.token_lifetime == 900
    assert settings.signing_alg == "RS256"
    assert settings.platform_url == settings.issuer
    assert settings.max_apps_per_tenant == 10
    assert settings.smtp is None
    assert settings.google_enabled is False
    assert settings.google_client_id is None


def test_blank_variables_count_as_unset(settings_from: Callable[..., Settings]) -> None:
    settings = settings_from(SMTP_URL="", ISSUER="  ", MAX_APPS_PER_TENANT="")

    assert settings.smtp is None
    assert settings.issuer == "http://localhost:8000"
    assert settings.max_apps_per_tenant == 10


def test_values_are_read(settings_from: Callable[..., Settings]) -> None:
    settings = settings_from(
        ISSUER="https://auth.example.com/",
        TOKEN_AUDIENCE="https://api.example.com",
        TOKEN_LIFETIME="600",
        SIGNING_ALG="ES256",
        PLATFORM_URL="https://app.example.com",
        MAX_APPS_PER_TENANT="3",
        DATABASE_URL="postgresql+psycopg://cp:pw@db.example.com/cp",
        GOOGLE_CLIENT_ID="google-id",
        GOOGLE_CLIENT_SECRET="google-secret",
    )

    assert settings.issuer == "https://auth.example.com"  # no trailing slash in `iss`
    assert settings.token_audience == "https://api.example.com"
    assert settings.token_lifetime == 600
    assert settings.signing_alg == "ES256"
    assert settings.platform_url == "https://app.example.com"
    assert settings.max_apps_per_tenant == 3
    assert settings.database_url == "postgresql+psycopg://cp:pw@db.example.com/cp"
    assert settings.google_enabled is True


def test_a_plain_postgresql_url_uses_psycopg(settings_from: Callable[..., Settings]) -> None:
    settings = settings_from(DATABASE_URL="postgresql://cp:pw@db.example.com:5433/cp")

    assert settings.database_url == "postgresql+psycopg://cp:pw@db.example.com:5433/cp"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("MAX_APPS_PER_TENANT", "abc"),
        ("MAX_APPS_PER_TENANT", "0"),
        ("MAX_APPS_PER_TENANT", "-3"),
        ("TOKEN_LIFETIME", "abc"),
        ("TOKEN_LIFETIME", "0"),
        ("SIGNING_ALG", "HS256"),
        ("SIGNING_ALG", "none"),
        ("ISSUER", "not-a-url"),
        ("ISSUER", "ftp://auth.example.com"),
        ("ISSUER", "https://auth.example.com/?tenant=1"),
        ("ISSUER", "https://auth.example.com/#x"),
        ("PLATFORM_URL", "app.example.com"),
        ("DATABASE_URL", "mysql://user:pw@db.example.com/cp"),
        ("DATABASE_URL", "postgresql+psycopg2://db.example.com/cp"),
        ("DATABASE_URL", "not a url"),
        ("SMTP_URL", "http://x"),
        ("SMTP_URL", "smtp://mail.example.com?starttls=maybe"),
        ("SMTP_URL", "smtp://mail.example.com:99999"),
        ("SMTP_URL", "smtp://"),
        ("ENCRYPTION_KEYS", "garbage"),
        ("SECRET_KEY", "too-short"),
        ("GOOGLE_METADATA_URL", "accounts.google.com"),
        ("GOOGLE_CLIENT_ID", "google-id-without-secret"),
    ],
    ids=lambda v: str(v)[:40],
)
def test_a_bad_value_raises_config_error_naming_the_variable(
    settings_from: Callable[..., Settings], variable: str, value: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        settings_from(**{variable: value})

    named = "GOOGLE_CLIENT_SECRET" if variable == "GOOGLE_CLIENT_ID" else variable
    assert f"CONTROLPLANE_{named}" in str(raised.value)


def test_a_second_bad_encryption_key_is_named_by_position(
    settings_from: Callable[..., Settings],
) -> None:
    with pytest.raises(ConfigError, match="key 2"):
        settings_from(ENCRYPTION_KEYS=f"{Fernet.generate_key().decode()},garbage")


def test_encryption_keys_keep_their_order(settings_from: Callable[..., Settings]) -> None:
    new, old = Fernet.generate_key(), Fernet.generate_key()

    settings = settings_from(ENCRYPTION_KEYS=f"{new.decode()}, {old.decode()}")

    assert settings.encryption_keys == (new, old)


def test_smtp_url_with_credentials_port_and_starttls(
    settings_from: Callable[..., Settings],
) -> None:
    smtp = settings_from(SMTP_URL="smtp://user:p%40ss@mail.example.com:2525?starttls=true").smtp

    assert smtp is not None
    assert smtp.host == "mail.example.com"
    assert smtp.port == 2525
    assert smtp.username == "user"
    assert smtp.password == "p@ss"  # percent-decoded
    assert smtp.starttls is True
    assert smtp.use_ssl is False


@pytest.mark.parametrize(
    ("url", "port", "use_ssl"),
    [("smtps://mail.example.com", 465, True), ("smtp://mail.example.com", 25, False)],
)
def test_smtp_default_ports(
    settings_from: Callable[..., Settings], url: str, port: int, use_ssl: bool
) -> None:
    smtp = settings_from(SMTP_URL=url).smtp

    assert smtp is not None
    assert (smtp.host, smtp.port, smtp.use_ssl, smtp.starttls) == (
        "mail.example.com",
        port,
        use_ssl,
        False,
    )
    assert smtp.username is None
    assert smtp.password is None


def test_dev_secret_key_is_generated_private_kept_and_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    instance = tmp_path / "instance"

    with caplog.at_level(logging.WARNING, logger="controlplane.config"):
        first = Settings.from_env({}, instance_path=str(instance))
    generated = [r for r in caplog.records if "CONTROLPLANE_SECRET_KEY" in r.getMessage()]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="controlplane.config"):
        second = Settings.from_env({}, instance_path=str(instance))
    reused = [r for r in caplog.records if "CONTROLPLANE_SECRET_KEY" in r.getMessage()]

    key_file = instance / "secret_key"
    assert len(first.secret_key) >= 32
    assert key_file.read_text().strip() == first.secret_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert second.secret_key == first.secret_key
    assert [r.levelno for r in generated] == [logging.WARNING]
    assert [r.levelno for r in reused] == [logging.WARNING]
    assert first.secret_key not in caplog.text
    assert sorted(p.name for p in instance.iterdir()) == ["secret_key"]  # no temp file left


def test_workers_starting_together_share_one_dev_secret_key(tmp_path: Path) -> None:
    instance = str(tmp_path / "instance")
    barrier = threading.Barrier(8)
    keys: list[str] = []
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            keys.append(Settings.from_env({}, instance_path=instance).secret_key)
        except BaseException as err:  # reported below, not lost in the thread
            errors.append(err)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(set(keys)) == 1


def test_the_repr_shows_no_secret(settings_from: Callable[..., Settings]) -> None:
    encryption_key = Fernet.generate_key().decode()
    settings = settings_from(
        SMTP_URL="smtps://mailer:smtp-password-123@mail.example.com",
        GOOGLE_CLIENT_ID="google-id",
        GOOGLE_CLIENT_SECRET="google-secret-456",
        ENCRYPTION_KEYS=encryption_key,
        DATABASE_URL="postgresql+psycopg://cp:db-password-789@db.example.com/cp",
    )

    for text in (repr(settings), str(settings), repr(settings.smtp)):
        for secret in (
            SECRET,
            "smtp-password-123",
            "google-secret-456",
            encryption_key,
            "db-password-789",
        ):
            assert secret not in text
    assert "db.example.com" in repr(settings)
    assert "mail.example.com" in repr(settings)


# --- create_app ----------------------------------------------------------------------------
@pytest.fixture
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """create_app reads os.environ first: keep the caller's CONTROLPLANE_* settings out."""
    for name in list(os.environ):
        if name.startswith("CONTROLPLANE_") and not name.startswith("CONTROLPLANE_TEST_"):
            monkeypatch.delenv(name)


@pytest.mark.usefixtures("clean_environ")
def test_create_app_takes_overrides_through_the_same_checks(tmp_path: Path) -> None:
    app = create_app(
        {
            "CONTROLPLANE_SECRET_KEY": SECRET,
            "CONTROLPLANE_INSTANCE_PATH": str(tmp_path / "instance"),
            "CONTROLPLANE_DATABASE_URL": f"sqlite:///{tmp_path / 'cp.db'}",
            "CONTROLPLANE_MAX_APPS_PER_TENANT": "4",
            "CONTROLPLANE_SMTP_URL": "",
        }
    )

    with app.app_context():
        assert state().settings.max_apps_per_tenant == 4
    assert app.config["SECRET_KEY"] == SECRET
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'cp.db'}"
    assert app.instance_path == str(tmp_path / "instance")
    with pytest.raises(ConfigError, match="CONTROLPLANE_MAX_APPS_PER_TENANT"):
        create_app(
            {
                "CONTROLPLANE_SECRET_KEY": SECRET,
                "CONTROLPLANE_INSTANCE_PATH": str(tmp_path / "instance"),
                "CONTROLPLANE_MAX_APPS_PER_TENANT": "abc",
            }
        )


@pytest.mark.usefixtures("clean_environ")
def test_create_app_accepts_a_relative_instance_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    app = create_app(
        {
            "CONTROLPLANE_SECRET_KEY": SECRET,
            "CONTROLPLANE_INSTANCE_PATH": "instance",
            "CONTROLPLANE_DATABASE_URL": "",
            "CONTROLPLANE_SMTP_URL": "",
        }
    )

    assert app.instance_path == str(tmp_path / "instance")
    assert (tmp_path / "instance").is_dir()
    with app.app_context():
        default_db = (tmp_path / "instance" / "controlplane.db").resolve()
        assert state().settings.database_url == f"sqlite:///{default_db}"


# --- operations (issue #6) -----------------------------------------------------------------


def test_operations_defaults(settings_from: Callable[..., Settings]) -> None:
    settings = settings_from()
    assert settings.serve == frozenset({"token", "dashboard", "api"})
    assert settings.ratelimit_storage_url == "memory://"
    assert settings.ratelimit_failed_auth_per_client == "10/minute"
    assert settings.ratelimit_failed_auth_per_address == "30/minute"
    assert settings.proxy_hops == 0


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        ("all", {"token", "dashboard", "api"}),
        ("token", {"token"}),
        (" Dashboard , api ", {"dashboard", "api"}),
    ],
)
def test_serve_names_the_parts(
    settings_from: Callable[..., Settings], raw: str, parts: set[str]
) -> None:
    assert settings_from(SERVE=raw).serve == parts


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SERVE", "tokens"),
        ("SERVE", ",,"),
        ("RATELIMIT_STORAGE_URL", "memcached://localhost"),
        ("RATELIMIT_FAILED_AUTH_PER_CLIENT", "ten a minute"),
        ("RATELIMIT_FAILED_AUTH_PER_ADDRESS", "5/fortnight"),
        ("PROXY_HOPS", "-1"),
        ("PROXY_HOPS", "many"),
    ],
)
def test_bad_operations_settings_name_the_variable(
    settings_from: Callable[..., Settings], name: str, value: str
) -> None:
    with pytest.raises(ConfigError, match=f"CONTROLPLANE_{name}"):
        settings_from(**{name: value})


# --- usage flushing (issue #6 Audit and usage) ---------------------------------------------
def test_usage_flush_interval_defaults_to_ten_seconds_and_is_read(
    settings_from: Callable[..., Settings],
) -> None:
    assert settings_from().usage_flush_seconds == 10
    assert settings_from(USAGE_FLUSH_SECONDS=" 3 ").usage_flush_seconds == 3


@pytest.mark.parametrize("value", ["0", "-5", "3601", "soon", "2.5"])
def test_a_bad_usage_flush_interval_names_the_variable(
    settings_from: Callable[..., Settings], value: str
) -> None:
    with pytest.raises(ConfigError, match="CONTROLPLANE_USAGE_FLUSH_SECONDS"):
        settings_from(USAGE_FLUSH_SECONDS=value)
