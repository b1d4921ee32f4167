"""The admin API's OpenAPI document: valid OpenAPI 3.1, built from the same route table the
HTTP functions are registered from, served at /api/openapi.json. That every response the admin
tests receive matches it is checked by the autouse fixture in tests/conftest.py; here, that the
check bites."""

from __future__ import annotations

import json
import re
from pathlib import Path

import azure.functions as func
import pytest
from openapi_spec_validator import validate

from tests.openapi_check import ContractViolation, check_response

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def doc(host):
    """The document of the app as the host loaded it (every route registered)."""
    from functions.openapi import document

    return document()


def http_functions() -> dict[str, dict]:
    import function_app
    from functions.dispatch import registered_functions

    out = {}
    for name, fn in registered_functions(function_app.app).items():
        trigger = fn.get_trigger()
        if trigger.type == "httpTrigger":
            out[name] = {"route": trigger.route,
                         "methods": [str(getattr(m, "value", m)).upper() for m in trigger.methods],
                         "auth": str(getattr(trigger.auth_level, "value", trigger.auth_level))}
    return out


def operations(doc) -> dict[str, tuple[str, str, dict]]:
    return {op["operationId"]: (path, method, op) for path, item in doc["paths"].items()
            for method, op in item.items()}


def test_the_document_is_valid_openapi(doc):
    validate(doc)
    assert doc["openapi"].startswith("3.1")


def test_every_http_function_is_in_the_document_as_registered(doc):
    functions, ops = http_functions(), operations(doc)
    assert set(ops) == set(functions)
    for name, fn in functions.items():
        path, method, op = ops[name]
        assert path == f"/{fn['route']}"
        assert fn["methods"] == [method.upper()]
        anonymous = fn["auth"].upper() == "ANONYMOUS"
        assert ("security" in op and op["security"] == []) == anonymous, name
        assert {p["name"] for p in op.get("parameters", []) if p["in"] == "path"} == \
            set(re.findall(r"\{(\w+)\}", fn["route"]))


def test_every_schema_a_response_names_exists(doc):
    schemas = doc["components"]["schemas"]
    text = json.dumps(doc)
    for ref in set(re.findall(r'"#/components/schemas/(\w+)"', text)):
        assert ref in schemas, ref
    unused = [name for name in schemas if f'"#/components/schemas/{name}"' not in text]
    assert unused == []


def test_the_readme_table_lists_exactly_the_documented_routes(doc):
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## Admin HTTP endpoints", 1)[1].split("\n## ", 1)[0]
    rows = set()
    for method, route in re.findall(r"^\| (GET|POST) \| `/api/([^`?\[]+)", section, re.M):
        for variant in route.split("`, `.../"):
            rows.add((method, "/" + variant.rstrip("/")))
    # "/monitor/enable`, `.../disable" is one row for two routes.
    for method, route in list(rows):
        if route.endswith("/enable"):
            rows.add((method, route.replace("/enable", "/disable")))
    documented = {(m.upper(), p) for p, item in doc["paths"].items()
                  for m in item}
    assert {(m, p) for m, p in rows} == documented


def test_the_document_is_served_and_keyed(host, doc):
    response = host.http("GET", "/api/openapi.json")
    assert response.status_code == 200
    assert json.loads(response.get_body()) == json.loads(json.dumps(doc))
    op = operations(doc)["openapi"][2]
    assert "security" not in op  # the function key, like every route but health


def _response(status: int, body, mimetype: str = "application/json") -> func.HttpResponse:
    text = body if isinstance(body, str) else json.dumps(body)
    return func.HttpResponse(text, status_code=status, mimetype=mimetype)


def test_the_response_check_bites(host):
    ok = {"model": "m", "count": 0, "alerts": []}
    assert check_response("GET", "/api/models/m/alerts", _response(200, ok)) == \
        "/models/{model}/alerts"
    with pytest.raises(ContractViolation, match="count: 'zero' is not of type 'integer'"):
        check_response("GET", "/api/models/m/alerts", _response(200, {**ok, "count": "zero"}))
    with pytest.raises(ContractViolation, match="'alerts' is a required property"):
        check_response("GET", "/api/models/m/alerts", _response(200, {"model": "m", "count": 0}))
    with pytest.raises(ContractViolation, match="Additional properties"):
        check_response("GET", "/api/models/m/alerts", _response(200, {**ok, "surprise": 1}))
    with pytest.raises(ContractViolation, match="status not in the OpenAPI document"):
        check_response("GET", "/api/models/m/alerts", _response(418, ok))
    with pytest.raises(ContractViolation, match="text/html, but the document says"):
        check_response("GET", "/api/models/m/alerts", _response(200, "<p>", "text/html"))
    error = {"error": {"code": "not_found", "message": "no model m"}}
    assert check_response("GET", "/api/models/m/alerts", _response(404, error))
    with pytest.raises(ContractViolation, match="Error"):
        check_response("GET", "/api/models/m/alerts", _response(404, {"error": "no"}))
    # A path no route serves (the host's own 404) is not the document's business.
    assert check_response("GET", "/api/nothing-here", _response(404, error)) is None
