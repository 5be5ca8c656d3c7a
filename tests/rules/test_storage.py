"""SPEC §1 Storage configuration: per-app object storage, its secret encrypted at rest."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane import serialize
from controlplane.crypto import Encryptor
from controlplane.models import App, StorageConfig, StorageProvider
from controlplane.rules import apps
from controlplane.rules.errors import InvalidStorageConfig
from tests.rules.helpers import assert_nowhere_in_database, refused

MakeApp = Callable[..., tuple[App, str]]
CountRows = Callable[..., int]

SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def app_encryptor(app: Flask) -> Encryptor:
    encryptor: Encryptor = app.extensions["controlplane"].encryptor
    return encryptor


def save(session: Session, web: App, encryptor: Encryptor, **overrides: object) -> StorageConfig:
    fields: dict[str, object] = {
        "provider": "aws_s3",
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "secret_access_key": SECRET_KEY,
        "bucket": "documents",
    }
    fields.update(overrides)
    storage = apps.set_storage(session, web, encryptor, **fields)  # type: ignore[arg-type]
    session.commit()
    return storage


def raw_secret_column(session: Session, web: App) -> bytes:
    table = StorageConfig.__table__
    value = session.execute(
        select(table.c.secret_access_key_encrypted).where(table.c.app_id == web.id)
    ).scalar_one()
    return bytes(value)


def reload(session: Session, web: App) -> App:
    session.expire_all()
    return apps.get(session, web.client_id)


def test_every_provider_of_the_spec_is_accepted(
    app: Flask, session: Session, make_app: MakeApp
) -> None:
    """SPEC §1: provider ∈ aws_s3, tigris, cloudflare_r2, minio, backblaze_b2."""
    web, _ = make_app()
    providers = ["aws_s3", "tigris", "cloudflare_r2", "minio", "backblaze_b2"]
    assert sorted(p.value for p in StorageProvider) == sorted(providers)

    for provider in providers:
        save(
            session,
            web,
            app_encryptor(app),
            provider=provider,
            endpoint_url=f"https://{provider.replace('_', '-')}.example.com",
            region="auto",
        )
        stored = reload(session, web).storage
        assert stored is not None
        assert stored.provider == provider


def test_a_storage_config_is_saved_with_all_its_fields(
    app: Flask, session: Session, make_app: MakeApp
) -> None:
    web, _ = make_app()

    save(
        session,
        web,
        app_encryptor(app),
        provider="minio",
        access_key_id="  minio-key ",
        bucket=" docs ",
        endpoint_url=" https://minio.internal.example.com:9000 ",
        region=" us-east-1 ",
    )

    stored = reload(session, web).storage
    assert stored is not None
    assert (stored.provider, stored.access_key_id, stored.bucket) == ("minio", "minio-key", "docs")
    assert stored.endpoint_url == "https://minio.internal.example.com:9000"
    assert stored.region == "us-east-1"


def test_optional_endpoint_and_region_may_be_left_empty(
    app: Flask, session: Session, make_app: MakeApp
) -> None:
    web, _ = make_app()

    save(session, web, app_encryptor(app), endpoint_url="  ", region="")

    stored = reload(session, web).storage
    assert stored is not None
    assert (stored.endpoint_url, stored.region) == (None, None)


INVALID: list[tuple[dict[str, Any], str]] = [
    ({"provider": "gcs"}, "provider"),
    ({"provider": "AWS_S3"}, "provider"),
    ({"provider": ""}, "provider"),
    ({"access_key_id": "  "}, "access_key_id"),
    ({"access_key_id": "k" * 257}, "access_key_id"),
    ({"bucket": ""}, "bucket"),
    ({"bucket": "b" * 256}, "bucket"),
    ({"endpoint_url": "ftp://storage.example.com"}, "endpoint_url"),
    ({"endpoint_url": "storage.example.com"}, "endpoint_url"),
    # The platform calls this endpoint: never itself or a cloud metadata service.
    ({"endpoint_url": "http://storage.example.com"}, "endpoint_url"),  # http only for minio
    ({"endpoint_url": "https://169.254.169.254/latest"}, "endpoint_url"),
    ({"endpoint_url": "https://127.0.0.1:9000"}, "endpoint_url"),
    ({"endpoint_url": "https://localhost:9000"}, "endpoint_url"),
    ({"endpoint_url": "https://[::1]:9000"}, "endpoint_url"),
    ({"endpoint_url": "https://0.0.0.0"}, "endpoint_url"),
    ({"endpoint_url": "https://storage.example.com:99999"}, "endpoint_url"),
    ({"region": "r" * 65}, "region"),
    ({"secret_access_key": None}, "secret_access_key"),  # required on the first save
    ({"secret_access_key": "   "}, "secret_access_key"),
]


def test_an_invalid_storage_config_is_refused_and_writes_nothing(
    app: Flask, session: Session, count_rows: CountRows, make_app: MakeApp
) -> None:
    """An unknown provider, and each other field out of bounds, each name their field."""
    web, _ = make_app()

    for overrides, field in INVALID:
        with refused(InvalidStorageConfig, field=field):
            save(session, web, app_encryptor(app), **overrides)
        session.rollback()

    assert count_rows(StorageConfig) == 0
    assert reload(session, web).storage is None


def test_a_refused_edit_keeps_the_saved_config(
    app: Flask, session: Session, make_app: MakeApp
) -> None:
    web, _ = make_app()
    save(session, web, app_encryptor(app), bucket="documents")

    with refused(InvalidStorageConfig, field="provider"):
        save(session, web, app_encryptor(app), provider="gcs", bucket="elsewhere")
    session.rollback()

    stored = reload(session, web).storage
    assert stored is not None
    assert (stored.provider, stored.bucket) == ("aws_s3", "documents")


def test_the_secret_access_key_is_stored_encrypted(
    app: Flask, session: Session, make_app: MakeApp
) -> None:
    """SPEC §1: the secret access key is encrypted at rest (Fernet/MultiFernet)."""
    web, _ = make_app()
    encryptor = app_encryptor(app)

    save(session, web, encryptor)

    raw = raw_secret_column(session, web)
    assert SECRET_KEY.encode() not in raw
    assert_nowhere_in_database(session, SECRET_KEY)
    assert encryptor.decrypt(raw) == SECRET_KEY.encode()
    assert apps.storage_secret(reload(session, web), encryptor) == SECRET_KEY


def test_the_secret_access_key_is_never_shown(
    app: Flask, session: Session, make_app: MakeApp
) -> None:
    """SPEC §1: ... and never shown again after saving."""
    web, _ = make_app()
    save(session, web, app_encryptor(app))

    shown = serialize.app(reload(session, web))

    assert shown["storage"] == {
        "provider": "aws_s3",
        "access_key_id": "AKIAIOSFODNN7EXAMPLE",
        "bucket": "documents",
        "endpoint_url": None,
        "region": None,
    }
    text = repr(shown)
    assert SECRET_KEY not in text
    assert raw_secret_column(session, web).decode() not in text
    assert "secret" not in " ".join(shown["storage"])


def test_editing_without_a_new_secret_keeps_the_old_one(
    app: Flask, session: Session, make_app: MakeApp
) -> None:
    web, _ = make_app()
    encryptor = app_encryptor(app)
    save(session, web, encryptor)

    for keep in (None, "", "   "):
        save(session, web, encryptor, secret_access_key=keep, bucket=f"bucket-{len(keep or '')}")
        assert apps.storage_secret(reload(session, web), encryptor) == SECRET_KEY

    save(session, web, encryptor, secret_access_key="a-new-secret-key")
    assert apps.storage_secret(reload(session, web), encryptor) == "a-new-secret-key"
    assert_nowhere_in_database(session, "a-new-secret-key")


def test_clearing_the_storage_config_returns_to_managed_storage(
    app: Flask, session: Session, count_rows: CountRows, make_app: MakeApp
) -> None:
    """SPEC §1: no storage config = the platform's managed storage."""
    web, _ = make_app()
    save(session, web, app_encryptor(app))

    apps.clear_storage(session, web)
    session.commit()

    assert count_rows(StorageConfig) == 0
    reloaded = reload(session, web)
    assert reloaded.storage is None
    assert apps.storage_secret(reloaded, app_encryptor(app)) is None
    assert serialize.app(reloaded)["storage"] is None


def test_a_key_rotation_keeps_secrets_readable_and_moves_them_to_the_new_key(
    session: Session, make_app: MakeApp
) -> None:
    """SPEC §1: MultiFernet keyed from configuration, so keys can be rotated."""
    key_a, key_b = Fernet.generate_key(), Fernet.generate_key()
    first, _ = make_app(name="first")
    second, _ = make_app(name="second")
    make_app(name="managed")  # no storage config: nothing to re-encrypt
    save(session, first, Encryptor([key_a]))
    save(session, second, Encryptor([key_a]), secret_access_key="second-secret")

    # The new key is prepended: old values still decrypt.
    rotated = Encryptor([key_b, key_a])
    assert apps.storage_secret(reload(session, first), rotated) == SECRET_KEY
    with pytest.raises(InvalidToken):
        Encryptor([key_b]).decrypt(raw_secret_column(session, first))

    assert apps.reencrypt_storage_secrets(session, rotated) == 2
    session.commit()

    # After re-encryption the old key can be dropped.
    only_b = Encryptor([key_b])
    assert apps.storage_secret(reload(session, first), only_b) == SECRET_KEY
    assert apps.storage_secret(reload(session, second), only_b) == "second-secret"
    with pytest.raises(InvalidToken):
        Encryptor([key_a]).decrypt(raw_secret_column(session, first))


def test_a_self_hosted_minio_may_use_plain_http_on_a_private_network(
    app: Flask, session: Session, make_app: MakeApp
) -> None:
    web, _ = make_app()

    stored = save(
        session, web, app_encryptor(app), provider="minio", endpoint_url="http://10.0.0.5:9000"
    )

    assert stored.endpoint_url == "http://10.0.0.5:9000"
