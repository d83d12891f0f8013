"""The OpenAPI schema says what the API answers: lists that are not paginated are
documented as lists, and every protected operation documents 401 and 403."""

import pytest
from drf_spectacular.generators import SchemaGenerator


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.mark.parametrize("path", ["/api/v1/submissions/{id}/answers/", "/api/v1/submissions/{id}/events/"])
def test_unpaginated_lists_are_documented_as_lists(schema, path):
    op = schema["paths"][path]["get"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "array"
    assert [p["name"] for p in op.get("parameters", [])] == ["id"]  # no list filters or page


def test_protected_operations_document_401_and_403_and_every_operation_400(schema):
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            assert "400" in op["responses"], (method, path)
            if path.startswith("/api/v1/public/") or path.endswith("/auth/token/"):
                continue
            assert {"401", "403"} <= set(op["responses"]), (method, path)
            if "{" in path:
                assert "404" in op["responses"], (method, path)
