"""Typed models, a module per family; importing this package registers them all."""

from controlplane.models.apps import App, StorageConfig, StorageProvider
from controlplane.models.base import Base
from controlplane.models.catalog import LicenseRegion, Plan, RegionDatabase
from controlplane.models.operations import AdminClient, AppUsageDay, AuditEvent
from controlplane.models.outbox import EmailStatus, OutboxEmail
from controlplane.models.signing import KeyState, SigningKey
from controlplane.models.tenancy import (
    Membership,
    Role,
    Tenant,
    TenantInvitation,
    TenantStatus,
    User,
)

__all__ = [
    "AdminClient",
    "App",
    "AppUsageDay",
    "AuditEvent",
    "Base",
    "EmailStatus",
    "KeyState",
    "LicenseRegion",
    "Membership",
    "OutboxEmail",
    "Plan",
    "RegionDatabase",
    "Role",
    "SigningKey",
    "StorageConfig",
    "StorageProvider",
    "Tenant",
    "TenantInvitation",
    "TenantStatus",
    "User",
]
