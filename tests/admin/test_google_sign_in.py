"""Sign in with Google (SPEC §3 Dashboard; issue #5), against a real OpenID provider.

The provider is panva/oidc-provider on loopback (tests/node/google_provider.mjs), reached
through ``CONTROLPLANE_GOOGLE_METADATA_URL``: discovery, the authorization code flow with PKCE,
the token exchange and the ID token's signature all happen for real. The tests play the
person's browser: the dashboard's redirect to the provider, the provider's sign-in page, the
provider's redirect back to the dashboard's callback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import scoped_session

from controlplane.models import Membership, OutboxEmail, Tenant, User
from tests.admin.conftest import Person
from tests.admin.helpers import PASSWORD, submit
from tests.support.oidc_provider import GoogleStandIn, google_stand_in

PLATFORM_URL = "http://localhost:8000"
CALLBACK = f"{PLATFORM_URL}/login/google/callback"

# The provider's accounts: the login typed on its page is the ``sub``.
ACCOUNTS = {
    "ada-at-google": {"email": "ada@example.com", "email_verified": True, "name": "Ada L."},
    "grace-at-google": {
        "email": "Grace@Example.com",
        "email_verified": True,
        "name": "Grace Hopper",
    },
    "ada-unverified": {"email": "ada@example.com", "email_verified": False, "name": "Not Ada"},
    "new-unverified": {"email": "nobody@example.com", "email_verified": False, "name": "X"},
    "no-email": {"name": "No Email"},
    "ada-second-google": {"email": "ada@example.com", "email_verified": True, "name": "Ada 2"},
}


@pytest.fixture(scope="module")
def google() -> Iterator[GoogleStandIn]:
    with google_stand_in(CALLBACK, ACCOUNTS) as provider:
        yield provider


@pytest.fixture
def env_overrides(google: GoogleStandIn) -> dict[str, str]:
    return {
        "CONTROLPLANE_PLATFORM_URL": PLATFORM_URL,
        "CONTROLPLANE_GOOGLE_CLIENT_ID": google.client_id,
        "CONTROLPLANE_GOOGLE_CLIENT_SECRET": google.client_secret,
        "CONTROLPLANE_GOOGLE_METADATA_URL": google.metadata_url,
    }


def start(client: FlaskClient) -> str:
    """Click "Sign in with Google": the provider's authorization URL the dashboard sends to."""
    res = client.get("/login/google")
    assert res.status_code == 302, res.text
    return res.headers["Location"]


def come_back(client: FlaskClient, callback_url: str) -> Any:
    parts = urlsplit(callback_url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == CALLBACK
    return client.get(f"{parts.path}?{parts.query}")


def sign_in_with_google(client: FlaskClient, google: GoogleStandIn, login: str) -> Any:
    return come_back(client, google.approve(start(client), login))


def with_param(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def signed_in_email(client: FlaskClient) -> str | None:
    res = client.get("/apps")
    if res.status_code != 200:
        return None
    for email in ("ada@example.com", "grace@example.com", "nobody@example.com"):
        if email in res.text:
            return email
    return "someone"


def flashed(client: FlaskClient) -> str:
    return client.get("/login").text


def user(session: scoped_session[Any], email: str) -> User | None:
    session.remove()
    return session.scalar(select(User).where(User.email == email))


# --- the flow ------------------------------------------------------------------------------


def test_the_sign_in_page_offers_google_when_it_is_configured(client: FlaskClient) -> None:
    assert 'href="/login/google"' in client.get("/login").text
    assert 'href="/login/google"' in client.get("/signup").text


def test_the_authorization_request_carries_state_nonce_and_a_pkce_challenge(
    client: FlaskClient, google: GoogleStandIn
) -> None:
    url = start(client)
    assert url.startswith(f"{google.issuer}/")
    query = parse_qs(urlsplit(url).query)
    assert query["response_type"] == ["code"]
    assert query["client_id"] == [google.client_id]
    assert query["redirect_uri"] == [CALLBACK]
    assert set(query["scope"][0].split()) == {"openid", "email", "profile"}
    assert len(query["state"][0]) >= 20
    assert len(query["nonce"][0]) >= 20
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43  # base64url of a SHA-256 digest
    # A second attempt gets fresh values: nothing is reused between attempts.
    again = parse_qs(urlsplit(start(client)).query)
    for name in ("state", "nonce", "code_challenge"):
        assert again[name] != query[name]


def test_the_callback_url_comes_from_the_platform_url_not_the_host_header(
    client: FlaskClient,
) -> None:
    res = client.get("/login/google", headers={"Host": "evil.example"})
    query = parse_qs(urlsplit(res.headers["Location"]).query)
    assert query["redirect_uri"] == [CALLBACK]


def test_a_verified_address_of_an_existing_account_links_it_and_signs_in(
    client: FlaskClient,
    new_client: Callable[[], FlaskClient],
    google: GoogleStandIn,
    person: Person,
    session: scoped_session[Any],
) -> None:
    res = sign_in_with_google(client, google, "ada-at-google")
    assert res.status_code == 302
    assert urlsplit(res.headers["Location"]).path == "/apps"
    assert signed_in_email(client) == person.email
    linked = user(session, person.email)
    assert linked is not None
    assert linked.google_subject == "ada-at-google"
    assert linked.password_hash is not None  # the password still works too
    other = submit(new_client(), "/login", {"email": person.email, "password": PASSWORD})
    assert other.status_code == 302


def test_a_linked_identity_signs_in_by_its_subject(
    new_client: Callable[[], FlaskClient],
    google: GoogleStandIn,
    make_person: Callable[..., Person],
) -> None:
    make_person("grace@example.com", organization="Navy")
    first = new_client()
    assert sign_in_with_google(first, google, "grace-at-google").status_code == 302
    second = new_client()
    assert sign_in_with_google(second, google, "grace-at-google").status_code == 302
    assert signed_in_email(second) == "grace@example.com"


def test_a_new_verified_identity_signs_up_with_an_organization(
    client: FlaskClient, google: GoogleStandIn, session: scoped_session[Any]
) -> None:
    res = sign_in_with_google(client, google, "grace-at-google")
    assert res.status_code == 302
    assert res.headers["Location"] == "/signup/google"
    page = client.get("/signup/google")
    assert page.status_code == 200
    assert "Grace@Example.com" in page.text or "grace@example.com" in page.text
    assert 'value="Grace Hopper"' in page.text  # the name Google gave, to confirm or change
    assert user(session, "grace@example.com") is None  # nothing is created before the form

    res = submit(
        client, "/signup/google", {"organization": "Navy Labs", "display_name": "Grace Hopper"}
    )
    assert res.status_code == 302
    assert res.headers["Location"] == "/apps"
    assert signed_in_email(client) == "grace@example.com"
    grace = user(session, "grace@example.com")
    assert grace is not None
    assert grace.google_subject == "grace-at-google"
    assert grace.password_hash is None  # Google only, until a password reset sets one
    tenant = session.scalar(select(Tenant).where(Tenant.name == "Navy Labs"))
    assert tenant is not None
    assert tenant.status == "pending_activation"
    role = session.scalar(
        select(Membership.role).where(
            Membership.user_id == grace.id, Membership.tenant_id == tenant.id
        )
    )
    assert role == "owner"
    welcome = session.scalars(
        select(OutboxEmail).where(
            OutboxEmail.kind == "welcome", OutboxEmail.to_address == grace.email
        )
    ).all()
    assert len(welcome) == 1
    # The pending sign-up is spent: the form cannot create a second account.
    assert client.get("/signup/google").status_code == 404


def test_the_google_sign_up_form_refuses_a_missing_organization_and_saves_nothing(
    client: FlaskClient, google: GoogleStandIn, session: scoped_session[Any]
) -> None:
    sign_in_with_google(client, google, "grace-at-google")
    res = submit(client, "/signup/google", {"organization": "", "display_name": "Grace"})
    assert res.status_code == 400
    assert user(session, "grace@example.com") is None
    assert session.scalar(select(func.count()).select_from(Tenant)) == 0


def test_the_google_sign_up_form_needs_a_google_sign_in_first(client: FlaskClient) -> None:
    assert client.get("/signup/google").status_code == 404
    assert client.post("/signup/google", data={"organization": "X"}).status_code in (400, 404)


# --- what must be refused ------------------------------------------------------------------


def test_an_unverified_address_does_not_link_to_the_account_that_has_it(
    client: FlaskClient,
    google: GoogleStandIn,
    person: Person,
    session: scoped_session[Any],
) -> None:
    res = sign_in_with_google(client, google, "ada-unverified")
    assert res.status_code == 302
    assert res.headers["Location"] == "/login"
    assert "has not verified the email address" in flashed(client)
    assert signed_in_email(client) is None
    ada = user(session, person.email)
    assert ada is not None
    assert ada.google_subject is None


def test_an_unverified_address_cannot_sign_up_either(
    client: FlaskClient, google: GoogleStandIn, session: scoped_session[Any]
) -> None:
    res = sign_in_with_google(client, google, "new-unverified")
    assert res.headers["Location"] == "/login"
    assert client.get("/signup/google").status_code == 404
    assert user(session, "nobody@example.com") is None


def test_an_identity_without_an_address_is_refused(
    client: FlaskClient, google: GoogleStandIn
) -> None:
    res = sign_in_with_google(client, google, "no-email")
    assert res.headers["Location"] == "/login"
    assert signed_in_email(client) is None


def test_a_second_google_identity_cannot_take_over_a_linked_account(
    new_client: Callable[[], FlaskClient],
    google: GoogleStandIn,
    person: Person,
    session: scoped_session[Any],
) -> None:
    assert sign_in_with_google(new_client(), google, "ada-at-google").status_code == 302
    intruder = new_client()
    res = sign_in_with_google(intruder, google, "ada-second-google")
    assert res.headers["Location"] == "/login"
    assert "linked to another Google account" in flashed(intruder)
    assert signed_in_email(intruder) is None
    ada = user(session, person.email)
    assert ada is not None
    assert ada.google_subject == "ada-at-google"


def test_a_wrong_state_is_refused(
    client: FlaskClient, google: GoogleStandIn, person: Person, session: scoped_session[Any]
) -> None:
    callback = google.approve(start(client), "ada-at-google")
    res = come_back(client, with_param(callback, state="forged-state-value-0123456789"))
    assert res.status_code == 302
    assert res.headers["Location"] == "/login"
    assert "did not complete" in flashed(client)
    assert signed_in_email(client) is None
    ada = user(session, person.email)
    assert ada is not None
    assert ada.google_subject is None


def test_a_callback_from_another_browser_is_refused(
    new_client: Callable[[], FlaskClient], google: GoogleStandIn, person: Person
) -> None:
    """Login CSRF: an attacker's own code and state, fed to a victim's browser, sign nobody in."""
    attacker, victim = new_client(), new_client()
    callback = google.approve(start(attacker), "ada-at-google")
    res = come_back(victim, callback)
    assert res.headers["Location"] == "/login"
    assert signed_in_email(victim) is None


def test_a_callback_cannot_be_replayed(
    client: FlaskClient, google: GoogleStandIn, person: Person
) -> None:
    """The state is spent by its first use: the same callback again is an unknown attempt."""
    callback = google.approve(start(client), "ada-at-google")
    assert come_back(client, callback).headers["Location"] == "/apps"
    assert come_back(client, callback).headers["Location"] == "/login"
    assert "did not complete" in client.get("/apps").text  # (still signed in from the first)


def test_an_id_token_with_another_nonce_is_refused(
    client: FlaskClient, google: GoogleStandIn, person: Person, session: scoped_session[Any]
) -> None:
    """An ID token answering another attempt's nonce is refused.

    The provider signs whatever nonce the authorization request carried: change it on the way,
    and the ID token that comes back does not answer this attempt.
    """
    url = with_param(start(client), nonce="a-nonce-this-dashboard-never-issued")
    res = come_back(client, google.approve(url, "ada-at-google"))
    assert res.status_code == 302
    assert res.headers["Location"] == "/login"
    assert "did not complete" in flashed(client)
    assert signed_in_email(client) is None
    ada = user(session, person.email)
    assert ada is not None
    assert ada.google_subject is None


def test_a_code_without_its_pkce_verifier_is_refused_by_the_provider(
    client: FlaskClient, google: GoogleStandIn, person: Person
) -> None:
    """The challenge is bound to this attempt: another challenge makes the exchange fail."""
    url = with_param(start(client), code_challenge="A" * 43)
    res = come_back(client, google.approve(url, "ada-at-google"))
    assert res.headers["Location"] == "/login"
    assert signed_in_email(client) is None


def test_the_provider_refusing_ends_the_attempt(client: FlaskClient, google: GoogleStandIn) -> None:
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    res = client.get(
        "/login/google/callback?" + urlencode({"error": "access_denied", "state": state})
    )
    assert res.headers["Location"] == "/login"
    assert signed_in_email(client) is None


@pytest.mark.parametrize(
    "query",
    ["", "code=abc", "state=abc", "code=&state=", "code=x&state=" + "s" * 5000],
    ids=["nothing", "no-state", "no-code", "empty", "huge-state"],
)
def test_a_malformed_callback_is_refused_without_an_error_page(
    client: FlaskClient, query: str
) -> None:
    res = client.get(f"/login/google/callback?{query}")
    assert res.status_code == 302
    assert res.headers["Location"] == "/login"


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env_overrides",
    [{"CONTROLPLANE_PLATFORM_URL": PLATFORM_URL}],
    ids=["not-configured"],
)
def test_without_credentials_google_sign_in_is_off(client: FlaskClient) -> None:
    assert "Google" not in client.get("/login").text
    assert client.get("/login/google").status_code == 404
    assert client.get("/login/google/callback?code=x&state=y").status_code == 404


@pytest.mark.parametrize(
    "env_overrides",
    [
        {
            "CONTROLPLANE_PLATFORM_URL": PLATFORM_URL,
            "CONTROLPLANE_GOOGLE_CLIENT_ID": "id",
            "CONTROLPLANE_GOOGLE_CLIENT_SECRET": "secret",
            "CONTROLPLANE_GOOGLE_METADATA_URL": "http://127.0.0.1:9/.well-known/openid-configuration",
        }
    ],
    ids=["provider-down"],
)
def test_an_unreachable_provider_gets_a_message_not_an_error_page(client: FlaskClient) -> None:
    res = client.get("/login/google")
    assert res.status_code == 302
    assert res.headers["Location"] == "/login"
    assert "unavailable right now" in flashed(client)


def test_no_secret_of_the_flow_reaches_the_log(
    client: FlaskClient,
    google: GoogleStandIn,
    person: Person,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    callback = google.approve(start(client), "ada-at-google")
    code = parse_qs(urlsplit(callback).query)["code"][0]
    assert come_back(client, callback).headers["Location"] == "/apps"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert google.client_secret not in logged
    assert code not in logged
