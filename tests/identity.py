"""Entra ID stand-ins for the token path on loopback: bearer tokens Azurite's basic OAuth mode
accepts (it checks `iss`, `aud`, `iat`, `nbf`, `exp`; not the signature), a small token
credential, and an App Service managed-identity endpoint (what `ManagedIdentityCredential`
calls on Azure Functions: `IDENTITY_ENDPOINT` with the `X-IDENTITY-HEADER` secret)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from azure.core.credentials import AccessToken

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
STORAGE_AUDIENCE = "https://storage.azure.com"
ENTRA_ISSUER = f"https://sts.windows.net/{TENANT}/"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint_token(**claims: object) -> str:
    """A JWT shaped like Entra ID's access tokens for storage; `claims` override or, with the
    value None, remove a claim. Signed with a throwaway HMAC key: Azurite never checks it."""
    now = int(time.time())
    body: dict[str, object] = {"aud": STORAGE_AUDIENCE, "iss": ENTRA_ISSUER, "iat": now - 60,
                               "nbf": now - 60, "exp": now + 3600, "tid": TENANT,
                               "oid": "00000000-0000-0000-0000-0000000000aa", "ver": "1.0"}
    for key, value in claims.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(body).encode())
    signature = hmac.new(b"not-a-real-key", f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{_b64(signature.digest())}"


@dataclass
class StaticTokenCredential:
    """A `TokenCredential`: hands out `mint_token(**claims)` and records the scopes asked."""

    claims: dict[str, object] = field(default_factory=dict)
    scopes: list[tuple[str, ...]] = field(default_factory=list)

    def get_token(self, *scopes: str, **kwargs: object) -> AccessToken:
        self.scopes.append(scopes)
        token = mint_token(**self.claims)
        expires = int(json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
                      .get("exp", time.time() + 3600))
        return AccessToken(token, expires)


@dataclass
class IdentityRequest:
    client_id: str | None
    resource: str
    api_version: str


class FakeIdentityEndpoint:
    """The App Service managed-identity endpoint, on loopback. Identities in `with_role` get a
    storage token Azurite accepts; any other client id gets one for another audience, which
    storage refuses with 403, as Azure refuses an identity that has no data role."""

    SECRET = "identity-header-secret"

    def __init__(self, with_role: set[str]):
        self.with_role = set(with_role)
        self.requests: list[IdentityRequest] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                if self.headers.get("X-IDENTITY-HEADER") != endpoint.SECRET:
                    self.send_response(401)
                    self.end_headers()
                    return
                client_id = query.get("client_id")
                resource = query.get("resource", "")
                endpoint.requests.append(IdentityRequest(client_id, resource,
                                                         query.get("api-version", "")))
                audience = resource.rstrip("/").removesuffix("/.default")
                if client_id not in endpoint.with_role:
                    audience = "https://management.azure.com"
                expires = int(time.time()) + 3600
                body = json.dumps({
                    "access_token": mint_token(aud=audience, appid=client_id or "system",
                                               exp=expires),
                    "expires_on": str(expires), "resource": resource, "token_type": "Bearer",
                    "client_id": client_id or "system-assigned",
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/msi/token"

    @contextlib.contextmanager
    def running(self) -> Iterator[FakeIdentityEndpoint]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(5)
