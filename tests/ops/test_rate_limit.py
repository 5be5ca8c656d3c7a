"""SPEC §3: repeated failed client authentication -> 429, other clients not slowed (#6 part 4).

In one process, with the default ``memory://`` storage (tests/ops/test_gunicorn_redis.py runs
the same rules through gunicorn with a real Redis shared by two workers). Limits are set per
test through the settings, as an operator sets them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from limits.storage import MemoryStorage
from werkzeug.test import TestResponse

from controlplane import ratelimit
from tests.oauth.helpers import (
    GRANT,
    TOKEN,
    Registered,
    access_token,
    assert_oauth_error,
    basic,
    token_by,
    token_by_basic,
)
from tests.ops.helpers import parse, value
from tests.support.postgres import free_port

METHODS = ["client_secret_basic", "client_secret_post"]
PER_CLIENT = "CONTROLPLANE_RATELIMIT_FAILED_AUTH_PER_CLIENT"
PER_ADDRESS = "CONTROLPLANE_RATELIMIT_FAILED_AUTH_PER_ADDRESS"
STORAGE = "CONTROLPLANE_RATELIMIT_STORAGE_URL"
CLIENT_LIMIT_3 = {PER_CLIENT: "3/minute", PER_ADDRESS: "1000/minute"}
ADDRESS_LIMIT_3 = {PER_CLIENT: "1000/minute", PER_ADDRESS: "3/minute"}


def failed_from(client: FlaskClient, address: str, client_id: str) -> TestResponse:
    """A wrong secret sent from ``address``."""
    return client.post(
        TOKEN,
        data=GRANT,
        headers={"Authorization": basic(client_id, "wrong")},
        environ_base={"REMOTE_ADDR": address},
    )


def assert_rate_limited(res: TestResponse, *, window: int) -> int:
    """429 in the RFC 6749 §5.2 shape, never cached, with Retry-After within the window."""
    assert res.status_code == 429, res.get_data(as_text=True)
    assert res.json == {
        "error": "invalid_client",
        "error_description": "too many failed client authentications, retry later",
    }
    assert res.headers["Cache-Control"] == "no-store"
    assert res.headers["Pragma"] == "no-cache"
    assert res.content_type == "application/json"
    retry_after = int(res.headers["Retry-After"])
    assert 1 <= retry_after <= window
    return retry_after


@pytest.mark.parametrize("env_overrides", [CLIENT_LIMIT_3], ids=["client-3"])
@pytest.mark.parametrize("method", METHODS)
def test_failures_over_the_client_id_limit_get_429_with_retry_after(
    client: FlaskClient, registered: Registered, method: str
) -> None:
    wrong = registered.secret[::-1]
    for _ in range(3):
        assert_oauth_error(
            token_by(method, client, registered.client_id, wrong), 401, "invalid_client"
        )

    res = token_by(method, client, registered.client_id, wrong)

    assert_rate_limited(res, window=60)
    assert "WWW-Authenticate" not in res.headers


@pytest.mark.parametrize("env_overrides", [CLIENT_LIMIT_3], ids=["client-3"])
def test_the_right_secret_is_never_refused_while_its_client_id_is_over_the_limit(
    client: FlaskClient, registered: Registered
) -> None:
    """A wrong-secret attacker cannot lock the app's owner out of tokens."""
    for _ in range(5):
        token_by_basic(client, registered.client_id, "wrong")
    assert token_by_basic(client, registered.client_id, "wrong").status_code == 429

    for method in METHODS:
        access_token(token_by(method, client, registered.client_id, registered.secret))
    assert token_by_basic(client, registered.client_id, "wrong").status_code == 429


@pytest.mark.parametrize("env_overrides", [CLIENT_LIMIT_3], ids=["client-3"])
def test_an_unknown_client_id_is_limited_exactly_like_a_known_one(
    client: FlaskClient, registered: Registered
) -> None:
    """SPEC §2: nothing tells an existing client_id from an unknown one, over the limit too."""
    known = [token_by_basic(client, registered.client_id, "wrong") for _ in range(5)]
    unknown = [token_by_basic(client, "f" * 24, "wrong") for _ in range(5)]

    assert [r.status_code for r in known] == [401, 401, 401, 429, 429]
    assert [r.status_code for r in unknown] == [401, 401, 401, 429, 429]
    assert known[-1].get_data() == unknown[-1].get_data()


@pytest.mark.parametrize("env_overrides", [ADDRESS_LIMIT_3], ids=["address-3"])
def test_failures_over_the_address_limit_get_429_whatever_the_client_id(
    client: FlaskClient, make_client: Callable[..., Registered]
) -> None:
    legit = make_client()
    attacker = "203.0.113.7"
    for n in range(3):
        assert failed_from(client, attacker, f"guess-{n}").status_code == 401

    assert_rate_limited(failed_from(client, attacker, "guess-9"), window=60)
    # Another address is not concerned; a right secret from the limited one still works.
    assert failed_from(client, "198.51.100.1", "guess-9").status_code == 401
    res = client.post(
        TOKEN,
        data=GRANT,
        headers={"Authorization": basic(legit.client_id, legit.secret)},
        environ_base={"REMOTE_ADDR": attacker},
    )
    access_token(res)


class StorageCalls:
    """Counts every call to the memory storage's methods."""

    def __init__(self) -> None:
        self.calls: list[str] = []


@pytest.fixture
def storage_calls(monkeypatch: pytest.MonkeyPatch) -> StorageCalls:
    spy = StorageCalls()
    for name in ("incr", "get", "get_expiry", "check", "clear", "reset"):
        original = getattr(MemoryStorage, name)

        def counted(self: Any, *args: Any, _name: str = name, _f: Any = original, **kw: Any) -> Any:
            spy.calls.append(_name)
            return _f(self, *args, **kw)

        monkeypatch.setattr(MemoryStorage, name, counted)
    return spy


@pytest.mark.parametrize("env_overrides", [CLIENT_LIMIT_3], ids=["client-3"])
def test_a_successful_request_never_touches_the_rate_limit_storage(
    client: FlaskClient, make_client: Callable[..., Registered], storage_calls: StorageCalls
) -> None:
    """Other clients are not slowed: a success costs no counter read or write at all."""
    victim, other = make_client(), make_client()
    for _ in range(5):
        token_by_basic(client, victim.client_id, "wrong")
    assert storage_calls.calls, "failures are counted"
    storage_calls.calls.clear()

    for _ in range(10):
        access_token(token_by_basic(client, other.client_id, other.secret))
        access_token(token_by_basic(client, victim.client_id, victim.secret))

    assert storage_calls.calls == []


@pytest.mark.parametrize(
    "env_overrides", [{PER_CLIENT: "2 per 2 seconds", PER_ADDRESS: "1000/minute"}], ids=["2s"]
)
def test_the_limit_resets_after_its_window(client: FlaskClient, registered: Registered) -> None:
    statuses = [token_by_basic(client, registered.client_id, "wrong").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    retry_after = assert_rate_limited(
        token_by_basic(client, registered.client_id, "wrong"), window=2
    )

    time.sleep(retry_after + 0.2)

    assert token_by_basic(client, registered.client_id, "wrong").status_code == 401


# Nothing listens there: every counter update fails to connect.
UNREACHABLE_REDIS = {
    STORAGE: f"redis://127.0.0.1:{free_port()}/0",
    PER_CLIENT: "1/minute",
    PER_ADDRESS: "1/minute",
}


@pytest.mark.parametrize("env_overrides", [UNREACHABLE_REDIS], ids=["redis-down"])
def test_a_storage_outage_fails_open_and_is_logged(
    client: FlaskClient,
    registered: Registered,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No 500 and no lock-out: failures are answered 401 as if no limit existed."""
    monkeypatch.setattr(ratelimit, "BACKOFF_SECONDS", 0.0)  # every failure tries Redis again
    before = parse(client.get("/metrics").get_data(as_text=True))
    with caplog.at_level(logging.WARNING, logger="controlplane.ratelimit"):
        statuses = [
            token_by_basic(client, registered.client_id, "wrong").status_code for _ in range(4)
        ]
        access_token(token_by_basic(client, registered.client_id, registered.secret))

    assert statuses == [401] * 4
    warnings = [r for r in caplog.records if r.name == "controlplane.ratelimit"]
    assert len(warnings) == 1, "one warning per minute, not one per request"
    assert "failing open" in warnings[0].getMessage()
    assert "ConnectionError" in warnings[0].getMessage()
    after = parse(client.get("/metrics").get_data(as_text=True))
    errors = "controlplane_ratelimit_storage_errors_total"
    assert value(after, errors) - value(before, errors) == 4


@pytest.mark.parametrize(
    "env_overrides",
    [{**ADDRESS_LIMIT_3, "CONTROLPLANE_PROXY_HOPS": "1"}],
    ids=["behind-one-proxy"],
)
def test_behind_a_proxy_the_address_is_the_forwarded_one(client: FlaskClient) -> None:
    """CONTROLPLANE_PROXY_HOPS=1: the proxy's own address is not the one counted."""

    def failed(forwarded_for: str) -> int:
        res = client.post(
            TOKEN,
            data=GRANT,
            headers={"Authorization": basic("guess", "wrong"), "X-Forwarded-For": forwarded_for},
            environ_base={"REMOTE_ADDR": "10.0.0.1"},  # the proxy
        )
        return res.status_code

    assert [failed("203.0.113.7") for _ in range(4)] == [401, 401, 401, 429]
    assert failed("198.51.100.1") == 401
