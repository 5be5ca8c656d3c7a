"""Apps: a tenant's confidential clients (SPEC §1 App creation, Plans, Storage; §2 rules)."""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from controlplane.crypto import Encryptor, generate_client_id, generate_secret, hash_secret
from controlplane.models import (
    App,
    LicenseRegion,
    Plan,
    StorageConfig,
    StorageProvider,
    Tenant,
    TenantStatus,
)
from controlplane.models.base import utcnow
from controlplane.rules import audit, plans, regions, tenants
from controlplane.rules.domains import normalize_domains, normalize_redirect_uris
from controlplane.rules.errors import (
    AppDisabled,
    AppLimitReached,
    AppNotFound,
    FreePlanTaken,
    InvalidStorageConfig,
    NoDatabaseCode,
    NoLicenseRegion,
    PlanIsRetired,
    PlanRetired,
    TenantNotActive,
    TokenRefused,
)
from controlplane.rules.validation import clean_name

MAX_CLIENT_ID_LENGTH = 64


@dataclass(frozen=True)
class IssuedSecret:
    """An app with the plaintext secret that is shown exactly once (SPEC §1.5)."""

    app: App
    client_secret: str


def get(session: Session, client_id: str) -> App:
    """The app by ``client_id`` with what it shows eagerly loaded, or :class:`AppNotFound`."""
    app = None
    if 0 < len(client_id) <= MAX_CLIENT_ID_LENGTH:
        app = session.scalar(
            select(App)
            .where(App.client_id == client_id)
            .options(
                joinedload(App.tenant),
                joinedload(App.region),
                joinedload(App.plan),
                joinedload(App.storage),
            )
        )
    if app is None:
        raise AppNotFound(f"app {client_id} does not exist", field="client_id")
    return app


@dataclass(frozen=True, slots=True)
class TokenSubject:
    """What the token path knows of an app: one row of one indexed query.

    A plain snapshot rather than ORM objects: materializing four mapped objects per token
    request cost more than the query itself. Previews build one from an :class:`App`.
    """

    app_id: uuid.UUID
    client_id: str
    secret_hash: bytes
    enabled: bool
    tenant_id: uuid.UUID
    tenant_status: str
    region_code: str | None
    db_code: str | None
    allowed_domains: tuple[str, ...]
    plan_code: str | None
    plan_retired: bool
    document_units_per_month: int | None
    max_api_requests_per_minute: int | None

    @classmethod
    def of(cls, app: App) -> TokenSubject:
        plan = app.plan
        return cls(
            app_id=app.id,
            client_id=app.client_id,
            secret_hash=app.secret_hash,
            enabled=app.enabled,
            tenant_id=app.tenant_id,
            tenant_status=app.tenant.status,
            region_code=app.region.code if app.region is not None else None,
            db_code=app.db_code,
            allowed_domains=tuple(app.allowed_domains),
            plan_code=plan.code if plan is not None else None,
            plan_retired=plan is not None and plan.retired,
            document_units_per_month=plan.document_units_per_month if plan else None,
            max_api_requests_per_minute=plan.max_api_requests_per_minute if plan else None,
        )


# Built once: constructing the statement and its cache key per request is measurable.
_FOR_TOKEN = (
    select(
        App.id,
        App.client_id,
        App.secret_hash,
        App.enabled,
        App.tenant_id,
        Tenant.status,
        LicenseRegion.code,
        App.db_code,
        App.allowed_domains,
        Plan.code,
        Plan.retired,
        Plan.document_units_per_month,
        Plan.max_api_requests_per_minute,
    )
    .join(Tenant, Tenant.id == App.tenant_id)
    .outerjoin(LicenseRegion, LicenseRegion.id == App.region_id)
    .outerjoin(Plan, Plan.id == App.plan_id)
    .where(App.client_id == bindparam("client_id"))
)


def _subject(row: Any) -> TokenSubject:
    return TokenSubject(
        app_id=row[0],
        client_id=row[1],
        secret_hash=row[2],
        enabled=row[3],
        tenant_id=row[4],
        tenant_status=row[5],
        region_code=row[6],
        db_code=row[7],
        allowed_domains=tuple(row[8] or ()),
        plan_code=row[9],
        plan_retired=bool(row[10]),
        document_units_per_month=row[11],
        max_api_requests_per_minute=row[12],
    )


# Converted when no app matches, so an unknown client_id costs what a known one does.
_NO_ROW: tuple[Any, ...] = (
    uuid.UUID(int=0),
    "",
    b"",
    False,
    uuid.UUID(int=0),
    "",
    None,
    None,
    [],
    None,
    False,
    None,
    None,
)


def for_token(session: Session | Connection, client_id: str) -> TokenSubject | None:
    """The token path's one indexed query (``uq_app_client_id``): app, tenant, region, plan."""
    if not 0 < len(client_id) <= MAX_CLIENT_ID_LENGTH:
        return None
    connection = session if isinstance(session, Connection) else session.connection()
    row = connection.execute(_FOR_TOKEN, {"client_id": client_id}).first()
    subject = _subject(row if row is not None else _NO_ROW)
    return subject if row is not None else None


def list_for_tenant(session: Session, tenant: Tenant) -> Sequence[App]:
    return session.scalars(
        select(App)
        .where(App.tenant_id == tenant.id)
        .options(joinedload(App.region), joinedload(App.plan), joinedload(App.storage))
        .order_by(App.created_at, App.name)
    ).all()


def create(
    session: Session,
    tenant: Tenant,
    name: str,
    *,
    region_code: str,
    default_app_limit: int,
    db_code: str | None = None,
    domains: Sequence[str] = (),
    redirect_uris: Sequence[str] = (),
    post_logout_redirect_uris: Sequence[str] = (),
    plan_code: str | None = None,
) -> IssuedSecret:
    """SPEC §1 App creation, rules 1-5, all checked before anything is written."""
    clean = clean_name(name, what="app name")
    region, database = regions.placement(session, region_code, db_code)
    allowed = normalize_domains(domains)
    redirects = normalize_redirect_uris(redirect_uris, field="redirect_uris")
    post_logout = normalize_redirect_uris(
        post_logout_redirect_uris, field="post_logout_redirect_uris"
    )
    # The row lock serializes concurrent creations for one tenant, so the count stays true.
    locked = tenants.get(session, tenant.id, for_update=True)
    limit = tenants.effective_app_limit(locked, default_app_limit)
    count = session.scalar(select(func.count()).where(App.tenant_id == locked.id)) or 0
    if count >= limit:
        raise AppLimitReached(
            f"the organization has reached its limit of {limit} apps", field="name"
        )
    plan = plans.get(session, plan_code) if plan_code is not None else None
    if plan is not None:
        _check_assignable(session, locked.id, None, plan, None)
    secret = generate_secret()
    app = App(
        id=uuid.uuid4(),
        tenant=locked,
        name=clean,
        client_id=generate_client_id(),
        secret_hash=hash_secret(secret),
        region=region,
        db_code=database.db_code,
        allowed_domains=allowed,
        redirect_uris=redirects,
        post_logout_redirect_uris=post_logout,
        enabled=True,
        plan=plan,
        on_free_plan=plan is not None and plan.is_free,
    )
    session.add(app)
    _flush_plan(session)
    _record(
        session,
        "app.create",
        app,
        name=app.name,
        region=region.code,
        db_code=app.db_code,
        allowed_domains=list(allowed),
        redirect_uris=list(redirects),
        post_logout_redirect_uris=list(post_logout),
        plan=plan.code if plan is not None else None,
    )
    return IssuedSecret(app, secret)


def _record(session: Session, action: str, app: App, **details: Any) -> None:
    """An app's audit event: by client_id (immutable, what people quote), in its tenant."""
    audit.record(session, action, "app", app.client_id, tenant_id=app.tenant_id, details=details)


def regenerate_secret(session: Session, app: App) -> IssuedSecret:
    """SPEC §1.6: a new secret; the old one fails on the next request on every instance."""
    secret = generate_secret()
    app.secret_hash = hash_secret(secret)
    _record(session, "app.regenerate_secret", app)  # that it happened; never the secret
    session.flush()
    return IssuedSecret(app, secret)


def set_enabled(session: Session, app: App, enabled: bool) -> App:
    before = app.enabled
    app.enabled = enabled
    _record(
        session,
        "app.enable" if enabled else "app.disable",
        app,
        enabled=audit.change(before, enabled),
    )
    session.flush()
    return app


def rename(session: Session, app: App, name: str) -> App:
    before = app.name
    app.name = clean_name(name, what="app name")
    _record(session, "app.rename", app, name=audit.change(before, app.name))
    session.flush()
    return app


def set_domains(session: Session, app: App, domains: Sequence[str]) -> App:
    before = list(app.allowed_domains)
    app.allowed_domains = normalize_domains(domains)
    _record(
        session, "app.set_domains", app, allowed_domains=audit.change(before, app.allowed_domains)
    )
    session.flush()
    return app


def set_redirect_uris(
    session: Session,
    app: App,
    redirect_uris: Sequence[str],
    post_logout_redirect_uris: Sequence[str],
) -> App:
    redirects = normalize_redirect_uris(redirect_uris, field="redirect_uris")
    post_logout = normalize_redirect_uris(
        post_logout_redirect_uris, field="post_logout_redirect_uris"
    )
    before = (list(app.redirect_uris), list(app.post_logout_redirect_uris))
    app.redirect_uris, app.post_logout_redirect_uris = redirects, post_logout
    _record(
        session,
        "app.set_redirect_uris",
        app,
        redirect_uris=audit.change(before[0], redirects),
        post_logout_redirect_uris=audit.change(before[1], post_logout),
    )
    session.flush()
    return app


def _check_assignable(
    session: Session,
    tenant_id: uuid.UUID,
    app_id: uuid.UUID | None,
    plan: Plan,
    current_plan_id: int | None,
) -> None:
    """SPEC §1 Plans: not retired (unless already held), one free-plan app per tenant."""
    if plan.retired and current_plan_id != plan.id:
        raise PlanRetired(f"plan {plan.code} is retired", field="plan")
    if plan.is_free:
        stmt = select(App.client_id).where(App.tenant_id == tenant_id, App.on_free_plan.is_(True))
        if app_id is not None:
            stmt = stmt.where(App.id != app_id)
        holder = session.scalar(stmt)
        if holder is not None:
            raise FreePlanTaken(
                f"the organization's app {holder} already has a free plan", field="plan"
            )


def _flush_plan(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError:
        # Lost the race to a concurrent assignment: the partial unique index said no.
        raise FreePlanTaken(
            "another app of the organization already has a free plan", field="plan"
        ) from None


def assign_plan(session: Session, app: App, plan_code: str) -> App:
    """Put ``app`` on a plan; at most one app per tenant on a free plan (SPEC §1 Plans).

    The partial unique index ``uq_app_free_plan_per_tenant`` is what holds the rule under
    concurrency; the query before it only gives the common case a clear message without
    relying on a failed statement.
    """
    plan = plans.get(session, plan_code)
    _check_assignable(session, app.tenant_id, app.id, plan, app.plan_id)
    before = app.plan.code if app.plan is not None else None
    app.plan, app.on_free_plan = plan, plan.is_free
    _flush_plan(session)
    _record(session, "app.assign_plan", app, plan=audit.change(before, plan.code))
    return app


def unassign_plan(session: Session, app: App) -> App:
    before = app.plan.code if app.plan is not None else None
    app.plan, app.on_free_plan = None, False
    _record(session, "app.unassign_plan", app, plan=audit.change(before, None))
    session.flush()
    return app


def set_storage(
    session: Session,
    app: App,
    encryptor: Encryptor,
    *,
    provider: str,
    access_key_id: str,
    secret_access_key: str | None,
    bucket: str,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> StorageConfig:
    """Save the app's storage; the secret access key is encrypted and write-only.

    ``secret_access_key=None`` keeps the saved key, so a form can edit the other fields without
    asking for the secret again.
    """
    if provider not in {p.value for p in StorageProvider}:
        choices = ", ".join(p.value for p in StorageProvider)
        raise InvalidStorageConfig(f"storage provider must be one of {choices}", field="provider")
    key_id = access_key_id.strip()
    if not key_id or len(key_id) > 256:
        raise InvalidStorageConfig("access key id must be 1-256 characters", field="access_key_id")
    bucket_name = bucket.strip()
    if not bucket_name or len(bucket_name) > 255:
        raise InvalidStorageConfig("bucket must be 1-255 characters", field="bucket")
    endpoint = (endpoint_url or "").strip() or None
    if endpoint is not None:
        _check_endpoint(endpoint, provider)
    region_name = (region or "").strip() or None
    if region_name is not None and len(region_name) > 64:
        raise InvalidStorageConfig("storage region must be at most 64 characters", field="region")
    storage = app.storage
    if secret_access_key is not None and not secret_access_key.strip():
        secret_access_key = None
    if secret_access_key is None and storage is None:
        raise InvalidStorageConfig("secret access key is required", field="secret_access_key")
    if storage is None:
        storage = StorageConfig(app_id=app.id)
        app.storage = storage
    storage.provider = provider
    storage.access_key_id = key_id
    storage.bucket = bucket_name
    storage.endpoint_url = endpoint
    storage.region = region_name
    storage.updated_at = utcnow()
    if secret_access_key is not None:
        storage.secret_access_key_encrypted = encryptor.encrypt(secret_access_key.encode())
    # Where the data goes, and whether the secret key was replaced; never that key.
    _record(
        session,
        "app.set_storage",
        app,
        provider=provider,
        access_key_id=key_id,
        bucket=bucket_name,
        endpoint_url=endpoint,
        region=region_name,
        key_replaced=secret_access_key is not None,
    )
    session.flush()
    return storage


def _check_endpoint(endpoint: str, provider: str) -> None:
    """An object-storage endpoint the platform may call: not the platform's own machine.

    https, except for a self-hosted MinIO (often plain http on a private network); never
    loopback, link-local (cloud metadata services live there), unspecified or multicast.
    """
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise InvalidStorageConfig(
            "endpoint URL is not a valid URL", field="endpoint_url"
        ) from None
    allowed = ("https", "http") if provider == StorageProvider.MINIO else ("https",)
    if parts.scheme.lower() not in allowed or not parts.hostname:
        raise InvalidStorageConfig(
            "endpoint URL must be an absolute https URL (http only for minio)",
            field="endpoint_url",
        )
    host = parts.hostname.lower()
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if (
        host == "localhost"
        or host.endswith(".localhost")
        or (
            address is not None
            and (
                address.is_loopback
                or address.is_link_local
                or address.is_unspecified
                or address.is_multicast
            )
        )
    ):
        raise InvalidStorageConfig(
            "endpoint URL must not point at this machine or a link-local address",
            field="endpoint_url",
        )


def clear_storage(session: Session, app: App) -> App:
    """Back to the platform's managed storage."""
    before = app.storage.provider if app.storage is not None else None
    app.storage = None
    _record(session, "app.clear_storage", app, provider=audit.change(before, None))
    session.flush()
    return app


def storage_secret(app: App, encryptor: Encryptor) -> str | None:
    """The decrypted secret access key, for handing to a storage client; never for display."""
    if app.storage is None:
        return None
    return encryptor.decrypt(app.storage.secret_access_key_encrypted).decode()


def reencrypt_storage_secrets(session: Session, encryptor: Encryptor) -> int:
    """Re-encrypt every storage secret under the newest key, after a key rotation."""
    configs = session.scalars(select(StorageConfig)).all()
    for config in configs:
        config.secret_access_key_encrypted = encryptor.rotate(config.secret_access_key_encrypted)
    audit.record(session, "storage.reencrypt", "storage", "*", details={"count": len(configs)})
    session.flush()
    return len(configs)


def check_token_eligibility(subject: TokenSubject | App) -> None:
    """SPEC §2: raise the :class:`TokenRefused` whose phrase names the first rule that fails.

    Reads only what :func:`for_token` loaded, so it adds no query to the token path.
    """
    s = subject if isinstance(subject, TokenSubject) else TokenSubject.of(subject)
    if not s.enabled:
        raise AppDisabled()
    if s.tenant_status != TenantStatus.ACTIVE:
        raise TenantNotActive()
    if s.region_code is None:
        raise NoLicenseRegion()
    if not s.db_code:
        raise NoDatabaseCode()
    if s.plan_retired:
        raise PlanIsRetired()


def token_refusal(subject: TokenSubject | App) -> str | None:
    """The phrase of the rule that blocks tokens now, or None: for previews and checks."""
    try:
        check_token_eligibility(subject)
    except TokenRefused as err:
        return err.message
    return None
