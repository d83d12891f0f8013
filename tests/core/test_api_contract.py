"""schemathesis over the whole API against a live server, as an anonymous caller, an
enterprise user and an authority (API tokens): no server error, every status code, content
type and body as the OpenAPI schema documents.

Property-based: a handful of generated requests per operation and role (``EXAMPLES``);
raise it locally for a deeper run, e.g. ``API_CONTRACT_EXAMPLES=100``.
"""

from __future__ import annotations

import json
import os

import pytest
import requests
import schemathesis
from django.core.cache import cache
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from apps.accounts.models import ApiToken, Role
from apps.filings import services
from tests.factories import EnterpriseFactory, UserFactory, authority_user, county, enterprise_user, prefecture
from tests.insights.test_authority_pages import make_world

EXAMPLES = int(os.environ.get("API_CONTRACT_EXAMPLES", "6"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.mark.django_db(transaction=True)
def test_api_answers_as_documented_for_every_role(live_server):
    cache.clear()
    world = make_world()
    ent = EnterpriseFactory(region=county())
    filer = enterprise_user(ent)
    services.submission_start(enterprise=ent, period=world["p2026"], user=filer)
    roles = {"anonymous": None, "enterprise": filer, "authority": authority_user(prefecture()),
             "ministry": UserFactory(role=Role.MINISTRY)}
    headers = {}
    for role, user in roles.items():
        headers[role] = {"Authorization": f"Token {ApiToken.issue(user=user)[1]}"} if user else {}

    raw = json.loads(json.dumps(SchemaGenerator().get_schema(request=None, public=True), default=str))
    schema = schemathesis.openapi.from_dict(raw)
    failures: list[str] = []
    session = requests.Session()

    def run(operation, role, auth):
        @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case):
            try:
                # a fresh connection per call: a kept-alive one desynchronised once after a HEAD response
                response = case.call(base_url=live_server.url, headers={**auth, "Connection": "close"}, session=session)
            except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, UnicodeError):
                return  # not a request a client could send
            try:
                case.validate_response(response, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis' FailureGroup: record and go on
                failures.append(f"{role} {operation.method.upper()} {operation.path}: {str(exc)[:600]}")

        check()

    for role, auth in headers.items():
        for result in schema.get_all_operations():
            run(result.ok(), role, auth)
            cache.clear()  # the public API's throttle counts per address

    assert not failures, "\n\n".join(failures[:15])
