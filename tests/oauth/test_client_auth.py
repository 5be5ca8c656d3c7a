"""Client authentication (SPEC §2, RFC 6749 §2.3.1): no enumeration, no near misses.

"missing/unknown client or wrong secret → ``401 invalid_client``, with one and the same
``error_description`` for both (with ``WWW-Authenticate: Basic`` when Basic was used)".
"""

from __future__ import annotations

import string
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.oauth.helpers import (
    GRANT,
    TOKEN,
    Registered,
    access_token,
    assert_oauth_error,
    token_by,
    verify,
)

METHODS = ["client_secret_basic", "client_secret_post"]
UNKNOWN_CLIENT_ID = "f" * 24  # shaped like a real one


def comparable(res: TestResponse) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Everything a caller sees, less the headers that vary by time, length or request alone."""
    varying = {"Date", "Content-Length", "X-Request-ID"}
    headers = sorted((k, v) for k, v in res.headers.items() if k not in varying)
    return res.status_code, res.get_data(), headers


@pytest.mark.parametrize("method", METHODS)
def test_unknown_client_and_wrong_secret_are_indistinguishable(
    client: FlaskClient, registered: Registered, method: str
) -> None:
    """Issue #4: identical status, body and headers, so client_ids cannot be enumerated."""
    wrong_secret = token_by(method, client, registered.client_id, registered.secret[::-1])
    unknown = token_by(method, client, UNKNOWN_CLIENT_ID, registered.secret)

    assert_oauth_error(wrong_secret, 401, "invalid_client")
    assert comparable(wrong_secret) == comparable(unknown)


def test_the_description_is_the_same_for_both_methods(
    client: FlaskClient, registered: Registered
) -> None:
    basic = token_by("client_secret_basic", client, UNKNOWN_CLIENT_ID, registered.secret)
    post = token_by("client_secret_post", client, UNKNOWN_CLIENT_ID, registered.secret)

    assert basic.get_data() == post.get_data()


def test_www_authenticate_only_when_basic_was_used(
    client: FlaskClient, registered: Registered
) -> None:
    """RFC 6749 §5.2: the challenge matches the scheme the client used; none for the body."""
    basic = token_by("client_secret_basic", client, registered.client_id, "wrong")
    post = token_by("client_secret_post", client, registered.client_id, "wrong")
    nothing = client.post(TOKEN, data=GRANT)

    assert basic.headers.get_all("WWW-Authenticate") == [basic.headers["WWW-Authenticate"]]
    assert basic.headers["WWW-Authenticate"].split()[0] == "Basic"
    assert "WWW-Authenticate" not in post.headers
    assert_oauth_error(nothing, 401, "invalid_client")
    assert "WWW-Authenticate" not in nothing.headers
    assert comparable(nothing) == comparable(post)


def other_character(c: str) -> str:
    """A different character from the secret alphabet (URL-safe base64)."""
    alphabet = string.ascii_letters + string.digits + "-_"
    return alphabet[(alphabet.index(c) + 1) % len(alphabet)]


@pytest.mark.parametrize("method", METHODS)
def test_changing_any_single_character_of_the_secret_fails(
    client: FlaskClient, registered: Registered, method: str
) -> None:
    """Issue #4: every byte counts (bcrypt-style truncation bugs bit other servers)."""
    secret = registered.secret
    for position, character in enumerate(secret):
        changed = secret[:position] + other_character(character) + secret[position + 1 :]
        res = token_by(method, client, registered.client_id, changed)
        assert res.status_code == 401, f"secret changed at {position} was accepted"

    verify(client, access_token(token_by(method, client, registered.client_id, secret)))


MANGLED: dict[str, Callable[[str], str]] = {
    "suffix": lambda s: s + "x",
    "prefix": lambda s: "x" + s,
    "space suffix": lambda s: s + " ",
    "space prefix": lambda s: " " + s,
    "NUL suffix": lambda s: s + "\x00",
    "drop last": lambda s: s[:-1],
    "drop first": lambda s: s[1:],
    "first 32": lambda s: s[:32],
    "first char": lambda s: s[:1],
    "upper case": lambda s: s.upper(),
    "doubled": lambda s: s + s,
}


@pytest.mark.parametrize("method", METHODS)
def test_a_secret_with_anything_added_or_removed_fails(
    client: FlaskClient, registered: Registered, method: str, subtests: pytest.Subtests
) -> None:
    for name, mangle in MANGLED.items():
        with subtests.test(mangled=name):
            res = token_by(method, client, registered.client_id, mangle(registered.secret))
            assert_oauth_error(res, 401, "invalid_client")


@pytest.mark.parametrize("method", METHODS)
def test_another_apps_secret_fails(
    client: FlaskClient, make_client: Callable[..., Registered], method: str
) -> None:
    first, second = make_client(name="first"), make_client(name="second")

    res = token_by(method, client, first.client_id, second.secret)

    assert_oauth_error(res, 401, "invalid_client")


@pytest.mark.parametrize("method", METHODS)
def test_the_client_id_is_matched_exactly(
    client: FlaskClient, registered: Registered, method: str
) -> None:
    """No case folding, trimming or prefix match on the client_id."""
    for client_id in (
        registered.client_id.upper(),
        registered.client_id + " ",
        " " + registered.client_id,
        registered.client_id[:-1],
        registered.client_id + "0",
    ):
        res = token_by(method, client, client_id, registered.secret)
        assert_oauth_error(res, 401, "invalid_client")
