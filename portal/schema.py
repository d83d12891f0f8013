"""OpenAPI post-processing: document the answers every endpoint can give.

drf-spectacular documents what a view declares. Authentication and permission checks run
before any view code, so it does not list their answers: a protected endpoint can answer
401 (no or a wrong, expired or revoked token) and 403 (a role that may not, or a session
request without CSRF token); an endpoint with a path parameter 404; any request 400
(malformed input, apps.core.middleware). This hook adds them where missing, so that the schema and the responses agree
(schemathesis checks that every status code returned is documented).
"""

ERROR = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
DESCRIPTIONS = {
    "400": "请求数据有误 / invalid request",
    "401": "未登录，或令牌无效、已过期、已撤销 / not authenticated",
    "403": "无权执行此操作 / not allowed",
    "404": "不存在或不在您的管辖范围内 / not found",
}


def _add(responses: dict, code: str) -> None:
    if code not in responses:
        responses[code] = {"content": {"application/json": {"schema": ERROR}}, "description": DESCRIPTIONS[code]}


def document_error_responses(result, generator, request, public):
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            anonymous = {} in operation.get("security", [{}]) or path.endswith("/auth/token/")
            if not anonymous:
                _add(responses, "401")
                _add(responses, "403")
            if "{" in path:
                _add(responses, "404")
            # any request can be malformed (a NUL in a parameter, a bad body): 400
            _add(responses, "400")
    return result
