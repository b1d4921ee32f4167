"""Check an admin API response against the OpenAPI document: the route and method are in it,
the status is documented, the media type is the documented one, and a JSON body matches the
status's schema. `tests/conftest.py` applies it to every response `LocalHost.http` returns, so
every admin HTTP test checks the document as a side effect."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import jsonschema


class ContractViolation(AssertionError):
    pass


_DOCUMENT: list[dict] = []


def _document() -> dict:
    """The app's document, once the app (function_app) has registered its routes."""
    if not _DOCUMENT:
        from functions.http import ROUTES
        from functions.openapi import document

        if not ROUTES:
            raise RuntimeError("no HTTP routes registered: import function_app first")
        _DOCUMENT.append(document())
    return _DOCUMENT[0]


def _operation(method: str, path: str) -> tuple[str, dict] | None:
    """(path template, operation) for `path` (without /api), or None when no route has it."""
    for template, item in _document()["paths"].items():
        pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template))
        if re.fullmatch(pattern, "/" + path.strip("/")) and method.lower() in item:
            return template, item[method.lower()]
    return None


@cache
def _validator(schema_ref: str) -> jsonschema.protocols.Validator:
    doc = _document()
    schema = {"$ref": schema_ref, "components": doc["components"]}
    return jsonschema.Draft202012Validator(schema)


def check_response(method: str, url: str, response: Any) -> str | None:
    """Raise ContractViolation if the response contradicts the document. Returns the path
    template checked, or None for a path no route serves (the host's own 404)."""
    path = url.split("?", 1)[0].removeprefix("/api/").removeprefix("api/")
    found = _operation(method, path)
    if found is None:
        return None
    template, operation = found
    where = f"{method.upper()} /api{template} -> {response.status_code}"
    documented = operation["responses"].get(str(response.status_code))
    if documented is None:
        raise ContractViolation(f"{where}: status not in the OpenAPI document")
    media = (response.mimetype or "").split(";")[0]
    content = documented["content"].get(media)
    if content is None:
        raise ContractViolation(f"{where}: {media}, but the document says "
                                f"{', '.join(documented['content'])}")
    if media == "application/json" and "$ref" in content["schema"]:
        body = json.loads(response.get_body())
        errors = sorted(_validator(content["schema"]["$ref"]).iter_errors(body),
                        key=lambda e: list(e.absolute_path))
        if errors:
            detail = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '<body>'}: {e.message}"
                               for e in errors[:5])
            raise ContractViolation(f"{where}: body does not match "
                                    f"{content['schema']['$ref']}: {detail}")
    return template
