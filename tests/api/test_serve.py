"""CONTROLPLANE_SERVE (issue #6): the API is served only where ``api`` is in the list."""

from __future__ import annotations

import pytest
from flask import Flask

from tests.api.conftest import assert_problem


@pytest.mark.parametrize("env_overrides", [{"CONTROLPLANE_SERVE": "token"}], ids=["token"])
def test_a_token_process_serves_no_api_but_answers_problems_under_it(app: Flask) -> None:
    client = app.test_client()
    assert_problem(client.get("/api/v1/openapi.json"), 404, "not_found")
    assert_problem(client.get("/api/v1/tenants"), 404, "not_found")
    assert "flask-smorest" not in app.extensions


@pytest.mark.parametrize(
    "env_overrides", [{"CONTROLPLANE_SERVE": "dashboard,api"}], ids=["dashboard,api"]
)
def test_a_back_office_process_serves_the_api(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/api/v1/openapi.json").status_code == 200
    assert_problem(client.get("/api/v1/tenants"), 401, "invalid_token")
    assert client.get("/login").status_code == 200
