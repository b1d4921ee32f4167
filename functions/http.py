"""Small helpers shared by the HTTP entry points: JSON in, JSON out, errors mapped."""

from __future__ import annotations

import functools
import json
import logging
import re
import uuid

import azure.functions as func

from core.domain.names import check_name, redact_paths, shown
from core.ports import ClaimHeld, Conflict, InvalidName, NotFound, PermanentError, WorkspaceError
from core.services.admin import BadRequest

log = logging.getLogger(__name__)

_ROUTE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")


def json_response(body, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, indent=2, default=str), status_code=status, mimetype="application/json"
    )


def public(message: str) -> str:
    """`message` as an answer may say it: host paths replaced by `<path>`."""
    return redact_paths(message)


def error(status: int, code: str, message: str) -> func.HttpResponse:
    return json_response({"error": {"code": code, "message": public(message)}}, status)


def check_route(req: func.HttpRequest) -> None:
    """Route parameters, checked before anything is looked up (the answer is the same whether
    or not something of that name exists): `model` by Azure ML's naming rules, ids by shape."""
    for key, value in (req.route_params or {}).items():
        if key == "model":
            check_name(value, "model name")
        elif not _ROUTE_ID.match(value or ""):
            raise InvalidName(f"{shown(value)} is not a valid {key}")


def json_body(req: func.HttpRequest) -> dict:
    raw = req.get_body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BadRequest("the request body is nested too deeply") from None
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def handles_errors(handler):
    """Map domain errors to HTTP status codes with a JSON body a person can read."""

    @functools.wraps(handler)
    def wrapper(req: func.HttpRequest) -> func.HttpResponse:
        try:
            check_route(req)
            return handler(req)
        except BadRequest as exc:
            return error(400, "bad_request", str(exc))
        except InvalidName as exc:
            return error(400, "invalid_name", str(exc))
        except NotFound as exc:
            return error(404, "not_found", str(exc))
        except (Conflict, ClaimHeld) as exc:
            return error(409, "conflict", str(exc))
        except PermanentError as exc:
            return error(422, "refused", str(exc))
        except WorkspaceError as exc:
            return error(503, "workspace_unavailable", str(exc))
        except RecursionError:
            return error(400, "bad_request", "the request is nested too deeply")
        except Exception:
            incident = uuid.uuid4().hex[:12]
            log.exception("unhandled error in %s (incident %s)", handler.__name__, incident)
            return error(500, "internal_error",
                         f"internal error; the function's log has the details (incident "
                         f"{incident})")

    return wrapper
