"""Small helpers shared by the HTTP entry points: JSON in, JSON out, errors mapped, and the
route table every HTTP function is registered from (the OpenAPI document reads it too)."""

from __future__ import annotations

import functools
import json
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import azure.functions as func

from core.domain.names import check_name, redact_paths, shown
from core.ports import ClaimHeld, Conflict, InvalidName, NotFound, PermanentError, WorkspaceError
from core.services.admin import BadRequest
from functions.tracing import invocation

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


# ------------------------------------------------------------------ the route table

# Every HTTP function is registered through `api_route`, which records it here: the one table
# both the Functions registration and the OpenAPI document (functions/openapi.py) read.


@dataclass(frozen=True)
class Param:
    """A query parameter."""

    name: str
    description: str
    enum: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Reply:
    """One documented response: a JSON body of schema `schema` (a component of
    functions/openapi.py), or another media type (`schema` None); `or_html`: the route answers
    with an HTML page instead when asked to (a query parameter)."""

    description: str
    schema: str | None = None
    media: str = "application/json"
    or_html: bool = False


@dataclass(frozen=True)
class Route:
    function: str
    route: str
    method: str
    auth: func.AuthLevel
    tag: str
    summary: str
    replies: Mapping[int, Reply]
    query: tuple[Param, ...] = ()
    body: str | None = None  # request body schema (a component), optional for the caller


# What `handles_errors` answers besides the route's own replies.
ERROR_REPLIES: dict[int, Reply] = {
    400: Reply("the request is wrong in a way the caller can fix", "Error"),
    404: Reply("the model, ingestion, request or message does not exist", "Error"),
    409: Reply("another instance changed it first; try again", "Error"),
    422: Reply("refused for good (a name or value the workspace will not take)", "Error"),
    500: Reply("an unexpected error (the function's log has the details)", "Error"),
    503: Reply("the workspace is unreachable or throttled; try again", "Error"),
}

ROUTES: dict[str, Route] = {}


def api_route(bp: func.Blueprint, function: str, route: str, method: str, *, tag: str,
              summary: str, replies: Mapping[int, Reply], query: tuple[Param, ...] = (),
              body: str | None = None, auth: func.AuthLevel = func.AuthLevel.FUNCTION):
    """Register an HTTP function (`function_name` + `route`, errors mapped by
    `handles_errors`) and its entry in ROUTES."""
    entry = Route(function, route, method.upper(), auth, tag, summary,
                  {**ERROR_REPLIES, **replies}, query, body)

    def decorate(handler):
        known = ROUTES.get(function)
        if known is not None and known != entry:
            raise ValueError(f"HTTP function {function} is registered twice")
        ROUTES[function] = entry
        mapped = handles_errors(handler)

        def http_function(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
            with invocation(function, context, kind="server",
                            model=(req.route_params or {}).get("model"),
                            **{"http.request.method": entry.method,
                               "http.route": f"/api/{route}"}) as span:
                response = mapped(req)
                span.annotate(**{"http.response.status_code": response.status_code})
                if response.status_code >= 500:
                    span.fail(f"answered {response.status_code}")
                return response

        for attribute in ("__name__", "__qualname__", "__doc__", "__module__"):
            setattr(http_function, attribute, getattr(handler, attribute))
        registered = bp.route(route=route, methods=[entry.method], auth_level=auth)(
            http_function)
        return bp.function_name(function)(registered)

    return decorate
