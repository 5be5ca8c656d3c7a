"""Malformed token requests: where stock Authlib is looser than SPEC §2 (issue #4 §2).

Each answer is an RFC 6749 §5.2 JSON error with ``Cache-Control: no-store``; a bad credential
is a failed authentication (401 ``invalid_client``), never a 500. Tables of inputs run as
subtests of one test, on one database, so each case still reports on its own.
"""

from __future__ import annotations

import base64
import io
import json
from urllib.parse import urlencode

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from controlplane.oauth import views
from tests.oauth.helpers import (
    GRANT,
    TOKEN,
    Registered,
    access_token,
    assert_oauth_error,
    basic,
    token_by_basic,
    token_by_post,
    verify,
)

FORM = "application/x-www-form-urlencoded"


def post_form(
    client: FlaskClient,
    pairs: list[tuple[str, str]],
    *,
    authorization: str | None = None,
    query: str = "",
) -> TestResponse:
    """POST a form built pair by pair, so a parameter can be repeated."""
    headers = {"Authorization": authorization} if authorization is not None else {}
    return client.post(TOKEN + query, data=urlencode(pairs), content_type=FORM, headers=headers)


def raw_basic(payload: bytes) -> str:
    return "Basic " + base64.b64encode(payload).decode("ascii")


def assert_auth_failed(res: TestResponse, *, basic_used: bool) -> None:
    """401 invalid_client; a Basic challenge exactly when the Authorization header was used."""
    assert_oauth_error(res, 401, "invalid_client")
    if basic_used:
        assert res.headers["WWW-Authenticate"].startswith("Basic")
    else:
        assert "WWW-Authenticate" not in res.headers


# --- request shape: 400 invalid_request -------------------------------------------------------
def test_a_parameter_in_the_query_string_is_invalid_request(
    client: FlaskClient, registered: Registered, subtests: pytest.Subtests
) -> None:
    """RFC 6749 §3.2: the token endpoint takes its parameters in the POST body."""
    authorization = basic(registered.client_id, registered.secret)
    for query in ("?grant_type=client_credentials", "?foo=bar", "?client_id=x&client_secret=y"):
        with subtests.test(query=query):
            res = post_form(client, list(GRANT.items()), authorization=authorization, query=query)
            assert_oauth_error(res, 400, "invalid_request")


def test_any_repeated_parameter_is_invalid_request(
    client: FlaskClient, registered: Registered, subtests: pytest.Subtests
) -> None:
    """RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once"."""
    grant = ("grant_type", "client_credentials")
    client_id, secret = ("client_id", registered.client_id), ("client_secret", registered.secret)
    authorization = basic(registered.client_id, registered.secret)
    cases = {
        "grant_type, Basic": ([grant, grant], authorization),
        "scope, Basic": ([grant, ("scope", "a"), ("scope", "a")], authorization),
        "client_id, Basic": ([grant, client_id, client_id], authorization),
        "grant_type, post": ([grant, grant, client_id, secret], None),
        "client_id, post": ([grant, client_id, client_id, secret], None),
        "client_secret, post": ([grant, client_id, secret, secret], None),
    }
    for case, (pairs, auth) in cases.items():
        with subtests.test(case=case):
            res = post_form(client, pairs, authorization=auth)
            assert_oauth_error(res, 400, "invalid_request")


def test_basic_and_a_body_secret_together_is_invalid_request(
    client: FlaskClient, registered: Registered
) -> None:
    """RFC 6749 §2.3: "The client MUST NOT use more than one authentication method"."""
    res = token_by_basic(
        client, registered.client_id, registered.secret, client_secret=registered.secret
    )

    assert_oauth_error(res, 400, "invalid_request")


def test_basic_with_another_client_id_in_the_body_is_invalid_request(
    client: FlaskClient, registered: Registered
) -> None:
    """Two different client identities in one request: malformed, not an authentication."""
    res = token_by_basic(client, registered.client_id, registered.secret, client_id="0" * 24)

    assert_oauth_error(res, 400, "invalid_request")


def test_a_missing_grant_type_is_invalid_request(
    client: FlaskClient, registered: Registered, subtests: pytest.Subtests
) -> None:
    """RFC 6749 §4.4.2: ``grant_type`` is REQUIRED."""
    authorization = basic(registered.client_id, registered.secret)
    for pairs in ([], [("grant_type", "")], [("scope", "x")]):
        with subtests.test(form=pairs):
            res = post_form(client, pairs, authorization=authorization)
            assert_oauth_error(res, 400, "invalid_request")


def test_any_other_grant_is_unsupported_grant_type(
    client: FlaskClient, registered: Registered, subtests: pytest.Subtests
) -> None:
    """SPEC §2: "other grants → ``400 unsupported_grant_type``"."""
    for grant_type in (
        "password",
        "authorization_code",
        "refresh_token",
        "implicit",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "CLIENT_CREDENTIALS",
        "client_credentials ",
    ):
        with subtests.test(grant_type=grant_type):
            res = token_by_basic(
                client, registered.client_id, registered.secret, grant_type=grant_type
            )
            assert_oauth_error(res, 400, "unsupported_grant_type")


def test_a_json_body_is_invalid_request(client: FlaskClient, registered: Registered) -> None:
    """RFC 6749 §4.4.2: the body is ``application/x-www-form-urlencoded``."""
    res = client.post(
        TOKEN,
        data=json.dumps(
            {**GRANT, "client_id": registered.client_id, "client_secret": registered.secret}
        ),
        content_type="application/json",
    )

    assert_oauth_error(res, 400, "invalid_request")


def test_a_multipart_body_is_invalid_request(client: FlaskClient, registered: Registered) -> None:
    res = client.post(
        TOKEN,
        data={**GRANT, "client_id": registered.client_id, "client_secret": registered.secret},
        content_type="multipart/form-data",
    )

    assert_oauth_error(res, 400, "invalid_request")


def test_an_empty_body_is_invalid_request(
    client: FlaskClient, registered: Registered, subtests: pytest.Subtests
) -> None:
    authorization = basic(registered.client_id, registered.secret)
    for content_type in (FORM, None):
        with subtests.test(content_type=content_type):
            res = client.post(
                TOKEN,
                data=b"",
                content_type=content_type,
                headers={"Authorization": authorization},
            )
            assert_oauth_error(res, 400, "invalid_request")


def test_a_body_over_4_kib_is_refused_and_4_kib_is_not(
    client: FlaskClient, registered: Registered
) -> None:
    """A token request is small; a large body is refused before it is parsed."""
    authorization = basic(registered.client_id, registered.secret)
    prefix = "grant_type=client_credentials&scope="
    exact = prefix + "a" * (views.MAX_BODY - len(prefix))

    at_limit = client.post(
        TOKEN, data=exact, content_type=FORM, headers={"Authorization": authorization}
    )
    over = client.post(
        TOKEN, data=exact + "a", content_type=FORM, headers={"Authorization": authorization}
    )

    verify(client, access_token(at_limit))
    assert_oauth_error(over, 400, "invalid_request")


def post_chunked(client: FlaskClient, body: str, authorization: str) -> TestResponse:
    """A ``Transfer-Encoding: chunked`` body: no ``Content-Length``, as gunicorn passes it on."""
    return client.post(
        TOKEN,
        input_stream=io.BytesIO(body.encode()),
        headers={
            "Authorization": authorization,
            "Transfer-Encoding": "chunked",
            "Content-Type": FORM,
        },
        environ_overrides={"wsgi.input_terminated": True},
    )


def test_a_chunked_body_over_4_kib_is_refused_not_truncated(
    client: FlaskClient, registered: Registered
) -> None:
    """Without a Content-Length the limit must hold while reading.

    Before the fix the form parser read the whole body into memory (and a plain limit would
    have cut it at 4 KiB silently and issued a token).
    """
    authorization = basic(registered.client_id, registered.secret)
    prefix = "grant_type=client_credentials&scope="
    exact = prefix + "a" * (views.MAX_BODY - len(prefix))

    verify(
        client, access_token(post_chunked(client, "grant_type=client_credentials", authorization))
    )
    verify(client, access_token(post_chunked(client, exact, authorization)))
    assert_oauth_error(post_chunked(client, exact + "a", authorization), 400, "invalid_request")
    assert_oauth_error(
        post_chunked(client, exact + "a" * 100_000, authorization), 400, "invalid_request"
    )


def test_other_methods_get_405_with_allow_post(
    client: FlaskClient, registered: Registered, subtests: pytest.Subtests
) -> None:
    """RFC 6749 §3.2: "The client MUST use the HTTP POST method"; RFC 9110 §15.5.6: ``Allow``."""
    authorization = basic(registered.client_id, registered.secret)
    for method in ("GET", "PUT", "DELETE", "PATCH", "OPTIONS"):
        with subtests.test(method=method):
            res = client.open(
                TOKEN, method=method, data=GRANT, headers={"Authorization": authorization}
            )
            assert_oauth_error(res, 405, "invalid_request")
            assert res.headers["Allow"] == "POST"

    head = client.head(TOKEN)
    assert head.status_code == 405
    assert head.headers["Allow"] == "POST"
    assert head.headers["Cache-Control"] == "no-store"


def test_unrouted_methods_also_get_allow_post(client: FlaskClient) -> None:
    """RFC 9110 §10.2.1: ``Allow`` lists the methods the resource supports: POST alone."""
    res = client.open(TOKEN, method="TRACE")

    assert res.status_code == 405
    assert res.headers["Allow"] == "POST"


# --- bad credentials: 401 invalid_client, never 500 -------------------------------------------
NON_ASCII = ["clïent", "客户", "\u00a0", "a\u200bb", "é" * 10]
CONTROL = ["a\x00b", "a\nb", "a\tb", "\x7f"]


def spoiled(registered: Registered, part: str, bad: str) -> tuple[str, str]:
    """The registered credentials with ``bad`` as the client_id or inside the secret."""
    if part == "client_id":
        return bad, registered.secret
    return registered.client_id, registered.secret[:5] + bad + registered.secret[5:]


def test_non_ascii_or_control_credentials_are_invalid_client(
    client: FlaskClient, registered: Registered, subtests: pytest.Subtests
) -> None:
    for bad in NON_ASCII + CONTROL:
        for part in ("client_id", "secret"):
            client_id, secret = spoiled(registered, part, bad)
            with subtests.test(part=part, value=bad, method="basic, UTF-8 as is"):
                res = post_form(
                    client,
                    list(GRANT.items()),
                    authorization=raw_basic(f"{client_id}:{secret}".encode()),
                )
                assert_auth_failed(res, basic_used=True)
            with subtests.test(part=part, value=bad, method="basic, form-urlencoded first"):
                assert_auth_failed(token_by_basic(client, client_id, secret), basic_used=True)
            with subtests.test(part=part, value=bad, method="post"):
                assert_auth_failed(token_by_post(client, client_id, secret), basic_used=False)


def test_undecodable_body_credentials_are_invalid_client(
    client: FlaskClient, registered: Registered, subtests: pytest.Subtests
) -> None:
    """Bytes that are not UTF-8 in the form are a failed authentication, not a crash."""
    for raw in ("client_id=%FF%FE", "client_id=%C3", "client_id=%"):
        with subtests.test(raw=raw):
            body = f"grant_type=client_credentials&{raw}&client_secret={registered.secret}"
            res = client.post(TOKEN, data=body, content_type=FORM)
            assert_auth_failed(res, basic_used=False)


MALFORMED_BASIC = [
    "Basic !!!not-base64!!!",
    "Basic " + base64.b64encode(b"no-colon-here").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),  # not UTF-8
    "Basic Y2xpZW50OnNlY3JldA",  # padding missing
    "Basic",
    "Basic ",
    "",
    "   ",
    "Bearer x",
    "Digest username=x",
    "Basic " + base64.b64encode(b":").decode(),
    "Basic " + base64.b64encode(b":secret").decode(),
    "Basic " + base64.b64encode(b"client:").decode(),
    "Basic Zm9v Zm9v",
    "Basic é",
]


def test_a_malformed_basic_header_is_invalid_client(
    client: FlaskClient, registered: Registered, subtests: pytest.Subtests
) -> None:
    """RFC 6749 §5.2: a failed Authorization header attempt is 401 with a challenge."""
    for authorization in MALFORMED_BASIC:
        with subtests.test(authorization=authorization):
            res = post_form(client, list(GRANT.items()), authorization=authorization)
            assert_auth_failed(res, basic_used=True)

    # Raw UTF-8 in the header (WSGI hands it over as latin-1 text) is no credential either.
    environ = {"HTTP_AUTHORIZATION": "Basic \u00c3\u00a9t\u00c3\u00a9"}
    assert_auth_failed(client.post(TOKEN, data=GRANT, environ_overrides=environ), basic_used=True)


def test_over_long_credentials_are_invalid_client(
    client: FlaskClient, registered: Registered, subtests: pytest.Subtests
) -> None:
    """Never a 500 and never a database lookup with an absurd value."""
    for part in ("client_id", "secret"):
        for length in (65, 129, 1000, 3000):
            client_id, secret = spoiled(registered, part, "a" * length)
            with subtests.test(part=part, length=length, method="post"):
                assert_auth_failed(token_by_post(client, client_id, secret), basic_used=False)
            with subtests.test(part=part, length=length, method="basic"):
                assert_auth_failed(token_by_basic(client, client_id, secret), basic_used=True)

    huge = raw_basic(b"a" * 20_000 + b":b")
    assert_auth_failed(post_form(client, list(GRANT.items()), authorization=huge), basic_used=True)


def test_missing_credentials_are_invalid_client(
    client: FlaskClient, registered: Registered, subtests: pytest.Subtests
) -> None:
    """SPEC §2: "missing/unknown client or wrong secret → ``401 invalid_client``"."""
    cases = {
        "none": {},
        "id only": {"client_id": registered.client_id},
        "secret only": {"client_secret": registered.secret},
        "both empty": {"client_id": "", "client_secret": ""},
        "secret empty": {"client_id": registered.client_id, "client_secret": ""},
        "id empty": {"client_id": "", "client_secret": registered.secret},
    }
    for case, form in cases.items():
        with subtests.test(case=case):
            res = client.post(TOKEN, data={**GRANT, **form})
            assert_auth_failed(res, basic_used=False)
