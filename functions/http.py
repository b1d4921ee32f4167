"""Small helpers shared by the HTTP entry points: JSON in, JSON out, errors mapped."""

from __future__ import annotations

import functools
import json
import logging

import azure.functions as func

from core.ports import Conflict, NotFound, WorkspaceError
from core.services.admin import BadRequest

log = logging.getLogger(__name__)


def json_response(body, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, indent=2, default=str), status_code=status, mimetype="application/json"
    )


def error(status: int, code: str, message: str) -> func.HttpResponse:
    return json_response({"error": {"code": code, "message": message}}, status)


def json_body(req: func.HttpRequest) -> dict:
    raw = req.get_body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def handles_errors(handler):
    """Map domain errors to HTTP status codes with a JSON body a person can read."""

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            return handler(req)
        except BadRequest as exc:
            return error(400, "bad_request", str(exc))
        except NotFound as exc:
            return error(404, "not_found", str(exc))
        except Conflict as exc:
            return error(409, "conflict", str(exc))
        except WorkspaceError as exc:
            return error(503, "workspace_unavailable", str(exc))
        except Exception as exc:
            log.exception("unhandled error in %s", handler.__name__)
            return error(500, "internal_error", f"{type(exc).__name__}: {exc}")

    return wrapper
