"""schemathesis against the real app's own `/openapi.json`, every operation in it: no 5xx, and no
response that the document does not describe. A newly documented endpoint is a new test case here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import BaseSchema, Case, GenerationMode
from schemathesis.checks import CheckFunction
from schemathesis.core.errors import InvalidSchema
from schemathesis.core.result import Err, Ok
from schemathesis.schemas import APIOperation
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.routing import Route

from application.api_keys import SCOPES

from entrypoints.http.app import create_app
from entrypoints.http.openapi import build_openapi

from config.container import build_container

from tests.support.gateways import IssuedKey, RunningGateway, gateway_settings, issue_key, prepare, running_gateway

pytestmark = pytest.mark.postgres

# Bounded: each operation gets this many generated requests, so the module stays within a couple of minutes.
EXAMPLES_PER_OPERATION = 50
# A request the schema allows may still be refused with 422: a BIN's check digit, a phone number, `1.0`
# for an integer (JSON Schema counts it as one; the API is stricter). The document cannot say all that,
# so "schema-valid means accepted" is not asked; everything about the responses is.
NOT_ASKED: list[CheckFunction] = [positive_data_acceptance]
# Every operation of the document, one test each (the served document is checked to be the same).


def _label(result: Ok[APIOperation[Any, Any, Any, Any]] | Err[InvalidSchema]) -> str:
    if isinstance(result, Err):
        raise result.err()
    return result.ok().label


OPERATIONS = [_label(result) for result in schemathesis.openapi.from_dict(build_openapi()).get_all_operations()]


@pytest.fixture(scope="module")
def gateway(own_postgres_url: str) -> Iterator[RunningGateway]:
    # A database of its own: generated requests change routes, keys and payments at random.
    gateway_config = gateway_settings(own_postgres_url)
    prepare(gateway_config)
    with running_gateway(gateway_config) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def api_key(gateway: RunningGateway) -> IssuedKey:
    return issue_key(gateway.container.settings(), SCOPES)


@pytest.fixture(scope="module")
def served_schema(gateway: RunningGateway, api_key: IssuedKey) -> BaseSchema:
    schema = schemathesis.openapi.from_url(f"{gateway.base_url}/openapi.json")
    # The key as an operator's credentials, as `schemathesis -H`: sent with every request, never
    # generated, and taken away by the checks that prove an operation refuses requests without it.
    schema.config.update(headers=api_key.header)
    return schema


def test_every_route_of_the_app_is_in_the_document(gateway: RunningGateway) -> None:
    # An undocumented endpoint would escape the conformance test below.
    app = create_app(build_container(gateway.container.settings()))
    served = {
        f"{method} {route.path}"
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    assert served - set(OPERATIONS) == set()


def test_the_served_document_has_every_operation_tested_here(served_schema: BaseSchema) -> None:
    served = {_label(result) for result in served_schema.get_all_operations()}
    assert served <= set(OPERATIONS)
    # schemathesis leaves the document's own path out of the listing, but finds it by name.
    assert [label for label in OPERATIONS if served_schema.find_operation_by_label(label) is None] == []


@pytest.mark.parametrize("label", OPERATIONS)
def test_every_documented_operation_answers_as_documented_and_never_5xx(
    label: str, served_schema: BaseSchema, api_key: IssuedKey
) -> None:
    operation = served_schema.find_operation_by_label(label)
    assert operation is not None
    statuses: list[int] = []

    # Valid requests and invalid ones (which must be refused with a 4xx, never a 5xx or a 2xx).
    @given(case=st.one_of([operation.as_strategy(mode) for mode in GenerationMode]))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,  # the same requests every run: a failure here is a bug, never bad luck
        database=None,
    )
    def answers_as_documented(case: Case[Any]) -> None:
        # Named here as well, so the checks know the key was given, not generated.
        statuses.append(case.call_and_validate(headers=api_key.header, excluded_checks=NOT_ASKED).status_code)

    answers_as_documented()
    # Honest: the generated requests got past authentication, not 25 documented 401s.
    assert set(statuses) - {401}, statuses
