"""SPEC §3 Operations: no secret, token or ``Authorization`` header in any log line.

"No secret, token, password or ``Authorization`` header ever appears in a log line": checked
with every logger, Authlib's included, turned down to DEBUG.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

import pytest
from flask.testing import FlaskClient

from controlplane.rules import apps
from tests.oauth.helpers import GRANT, TOKEN, Registered, access_token, basic, token_by


def test_no_secret_token_or_authorization_value_reaches_the_logs(
    client: FlaskClient, registered: Registered, session: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Every logger that exists, not only the root: SQLAlchemy, for one, pins its own level.
    for name in [None, "authlib", "controlplane", *logging.root.manager.loggerDict]:
        caplog.set_level(logging.DEBUG, logger=name)
    client_id, secret = registered.client_id, registered.secret
    tokens: list[str] = []
    for method in ("client_secret_basic", "client_secret_post"):
        tokens.append(access_token(token_by(method, client, client_id, secret)))
        token_by(method, client, client_id, secret + "x")  # wrong secret
        token_by(method, client, "f" * 24, secret)  # unknown client
        token_by(method, client, client_id, secret, grant_type="password")
    client.post(TOKEN + "?client_secret=" + secret, data=GRANT)
    client.post(
        TOKEN,
        data={**GRANT, "client_secret": secret},
        headers={"Authorization": basic(client_id, secret)},
    )
    client.post(
        TOKEN, data={**GRANT, "client_id": client_id, "client_secret": secret, "scope": "a" * 5000}
    )
    apps.set_enabled(session, apps.get(session, client_id), False)
    session.commit()
    token_by("client_secret_basic", client, client_id, secret)  # refused: disabled

    needles = {
        "secret": secret,
        "wrong secret": secret + "x",
        "authorization": basic(client_id, secret).split()[1],
        "raw authorization": base64.b64encode(f"{client_id}:{secret}".encode()).decode(),
        **{f"token {i}": token for i, token in enumerate(tokens)},
        **{f"token {i} signature": token.rsplit(".", 1)[1] for i, token in enumerate(tokens)},
        "private key": "PRIVATE KEY",
    }
    assert logging.getLogger("authlib.oauth2.rfc6749.grants").isEnabledFor(logging.DEBUG)
    assert caplog.records, "nothing captured: the capture is not live"
    for record in caplog.records:
        line = caplog.handler.format(record)
        for name, needle in needles.items():
            assert needle not in line, f"{name} logged by {record.name}: {line[:200]}"
