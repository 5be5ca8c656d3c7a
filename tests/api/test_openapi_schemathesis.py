"""The OpenAPI document against the running code, with schemathesis (issue #6).

Every operation of /api/v1/openapi.json is called with generated input (valid and invalid) and a
real admin token; each response must not be a 5xx and must match the document: status, content
type, headers and body schema. Bounded (few examples per operation, no deadline) so it stays a
unit test; ``SCHEMATHESIS_MAX_EXAMPLES`` raises the bound for a longer hunt.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.api.conftest import Api

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "8"))


@pytest.fixture
def api_schema(app: Flask, api: Api, world_for_fuzzing: None) -> Any:
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.fixture
def world_for_fuzzing(api: Api, make_tenant: Callable[..., Any]) -> None:
    """A little data, so generated requests sometimes find what they name."""
    api.ok("POST", "/regions", {"code": "EU", "name": "Europe"}, status=201)
    api.ok("POST", "/regions/EU/databases", {"db_code": "eu-db-1"}, status=201)
    api.ok("POST", "/plans", {"code": "pro", "name": "Pro"}, status=201)
    make_tenant()


# One test walks every operation with Hypothesis itself (``as_strategy``): schemathesis'
# pytest loader for fixture-made schemas (``from_fixture``) relies on a pytest internal that
# pytest 9 no longer has; the app (and its database) is made per test by fixtures.
def test_every_operation_answers_as_documented(api_schema: Any, api: Api) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 28, [op.label for op in operations]
    headers = {"Authorization": f"Bearer {api.token}"}
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode, headers=headers))
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
                database=None,
            )
            def run(case: Any) -> None:
                case.call_and_validate(
                    # The rules refuse values no JSON schema can describe (a domain that is
                    # not a DNS name, a taken code, a tenant in the wrong state): 400/409 for
                    # schema-valid input is the rules at work, not a broken contract.
                    excluded_checks=[positive_data_acceptance],
                )

            try:
                run()
            except Unsatisfiable:
                # No parameters and no body, and the token is fixed: nothing can be invalid.
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as failure:
                raise AssertionError(f"{operation.label} ({mode.value}): {failure}") from failure
