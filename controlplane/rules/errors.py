"""Typed errors: one per rule, each carrying a message fit to show a user.

Faces map ``kind`` to their own shape: the CLI to one stderr line and exit 1, the API to
``{"error": kind, "message"}`` with 400/404/409, the dashboard to a field error, the token
endpoint (for :class:`TokenRefused`) to ``400 unauthorized_client``.
"""

from __future__ import annotations


class RuleError(Exception):
    """A SPEC rule said no. ``field`` names the input that caused it, when one did."""

    kind = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(RuleError):
    kind = "invalid"


class NotFound(RuleError):
    kind = "not_found"


class Conflict(RuleError):
    kind = "conflict"


# --- input validation -------------------------------------------------------------------
class InvalidDomain(Invalid):
    """An allowed domain failed SPEC §1 App creation rule 2."""


class TooManyDomains(Invalid):
    """More than three allowed domains."""


class DuplicateDomain(Invalid):
    """Two allowed domains are the same after normalization."""


class InvalidRedirectUri(Invalid):
    """A redirect or post-logout URI is not an absolute URI."""


class InvalidEmail(Invalid):
    """An email address email-validator refuses."""


class InvalidName(Invalid):
    """A name is empty or too long."""


class InvalidCode(Invalid):
    """A region, database or plan code has characters or a length we refuse."""


class InvalidLimit(Invalid):
    """A limit (app limit, plan limits) is negative or out of range."""


class WeakPassword(Invalid):
    """A password too short to protect an account."""


class InvalidResetLink(Invalid):
    """A password-reset link that is malformed, expired or already used."""


class InvalidStorageConfig(Invalid):
    """A storage configuration is incomplete or names an unknown provider."""


# --- lookups ------------------------------------------------------------------------------
class TenantNotFound(NotFound):
    pass


class AppNotFound(NotFound):
    pass


class RegionNotFound(NotFound):
    pass


class RegionDatabaseNotFound(NotFound):
    pass


class PlanNotFound(NotFound):
    pass


class UserNotFound(NotFound):
    pass


# --- state and uniqueness -----------------------------------------------------------------
class RegionExists(Conflict):
    pass


class RegionDatabaseExists(Conflict):
    pass


class PlanExists(Conflict):
    pass


class UserExists(Conflict):
    pass


class RegionInactive(Conflict):
    """SPEC §1 App creation rule 1: the region must be active."""


class NoActiveDatabase(Conflict):
    """SPEC §1 App creation rule 1: the region needs an active database."""


class RegionDatabaseInactive(Conflict):
    """A named database is inactive or belongs to another region."""


class AppLimitReached(Conflict):
    """SPEC §1 App creation rule 4."""


class PlanRetired(Conflict):
    """SPEC §1 Plans: a retired plan can't be newly assigned."""


class FreePlanTaken(Conflict):
    """SPEC §1 Plans: at most one app of a tenant on a free plan."""


class InvalidTransition(Conflict):
    """A tenant status change the lifecycle does not allow."""


# --- token eligibility (SPEC §2): each message is the phrase the token error carries -----
class TokenRefused(RuleError):
    kind = "unauthorized_client"


class AppDisabled(TokenRefused):
    def __init__(self) -> None:
        super().__init__("app is disabled")


class TenantNotActive(TokenRefused):
    def __init__(self) -> None:
        super().__init__("tenant is not active")


class NoLicenseRegion(TokenRefused):
    def __init__(self) -> None:
        super().__init__("app has no license region")


class NoDatabaseCode(TokenRefused):
    def __init__(self) -> None:
        super().__init__("app has no database code")


class PlanIsRetired(TokenRefused):
    def __init__(self) -> None:
        super().__init__("plan is retired")


# --- team: members and invitations (issue #5) -----------------------------------------------
class InvalidRole(Invalid):
    """A role that is not ``owner``, ``admin`` or ``member``, or not offered here."""


class RoleNotAllowed(Invalid):
    """Only owners make, change or remove owners; admins manage members and admins."""


class InvalidInvitation(Invalid):
    """An invitation link that is malformed, expired, or for a tenant that is gone."""


class InvitationUsed(Conflict):
    """The invited address is already a member: the link has been used."""


class WrongInvitee(Conflict):
    """An invitation accepted by an account whose email is not the invited one."""


class AlreadyMember(Conflict):
    """An invitation for an address that already belongs to the tenant."""


class MemberNotFound(NotFound):
    """No membership of that user in that tenant."""


class LastOwner(Conflict):
    """A tenant keeps at least one owner: its last one can be neither demoted nor removed."""


# --- Sign in with Google -----------------------------------------------------------------
class UnverifiedGoogleEmail(Invalid):
    """Google did not vouch for the address: it may not stand for an account here."""


class GoogleIdentityTaken(Conflict):
    """The account with that address is already linked to another Google identity."""


# --- admin API clients (issue #6) ----------------------------------------------------------
class AdminClientNotFound(NotFound):
    pass


class AdminClientExists(Conflict):
    """Admin client names are unique: an operator tells them apart by name."""
