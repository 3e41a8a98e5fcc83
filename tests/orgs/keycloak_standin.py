"""A local HTTP stand-in for the Keycloak endpoints apps/orgs/keycloak.py uses — exactly those, nothing else.

It checks every request: the admin token (client credentials of the admin client) on every admin call, and the
shape of the bodies. Anything else is recorded in `unexpected` and answered 400.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

REALM = "redmist"
ADMIN_CLIENT_ID = "user-management-svc"


class KeycloakStandIn:
    def __init__(self, *, admin_secret: str):
        self.admin_secret = admin_secret
        self.admin_tokens: set[str] = set()
        self.clients: dict[str, dict] = {}  # internal id -> representation (+ "secret", "sa_user")
        self.users: dict[str, dict] = {}  # user id -> {"id", "username"}
        self.roles = {"relay-svc": {"id": str(uuid.uuid4()), "name": "relay-svc"}}
        self.role_mappings: dict[str, list[dict]] = {}
        self.calls: list[tuple[str, str]] = []
        self.unexpected: list[str] = []
        self.token_requests = 0
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body=None, headers=None):
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                if body is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self):
                length = int(self.headers.get("Content-Length", 0))
                return self.rfile.read(length) if length else b""

            def _handle(self, method):
                parsed = urlparse(self.path)
                standin.calls.append((method, parsed.path))
                body = self._body()
                if method == "POST" and parsed.path == f"/realms/{REALM}/protocol/openid-connect/token":
                    return self._send(*standin.token(parse_qs(body.decode())))
                prefix = f"/admin/realms/{REALM}"
                if not parsed.path.startswith(prefix):
                    standin.unexpected.append(f"{method} {parsed.path}")
                    return self._send(400, {"error": "unexpected"})
                if self.headers.get("Authorization", "").removeprefix("Bearer ") not in standin.admin_tokens:
                    return self._send(401, {"error": "HTTP 401 Unauthorized"})
                result = standin.admin(method, parsed.path[len(prefix):], parse_qs(parsed.query), body)
                if result is None:
                    standin.unexpected.append(f"{method} {parsed.path}")
                    return self._send(400, {"error": "unexpected"})
                self._send(*result)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_DELETE(self):
                self._handle("DELETE")

            def do_PUT(self):
                self._handle("PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # -- behaviour -------------------------------------------------------------------------------

    def token(self, form):
        self.token_requests += 1
        form = {k: v[0] for k, v in form.items()}
        if form.get("grant_type") != "client_credentials" or form.get("client_id") != ADMIN_CLIENT_ID:
            return 400, {"error": "invalid_request"}
        if form.get("client_secret") != self.admin_secret:
            return 401, {"error": "unauthorized_client"}
        token = secrets.token_urlsafe(16)
        self.admin_tokens.add(token)
        return 200, {"access_token": token, "expires_in": 60, "token_type": "Bearer"}

    def add_client(self, client_id: str) -> dict:
        internal = str(uuid.uuid4())
        user = {"id": str(uuid.uuid4()), "username": f"service-account-{client_id}"}
        self.users[user["id"]] = user
        self.clients[internal] = {"id": internal, "clientId": client_id, "secret": secrets.token_urlsafe(24),
                                  "sa_user": user["id"]}
        return self.clients[internal]

    def admin(self, method, path, query, body):
        if path == "/clients" and method == "GET":
            wanted = query.get("clientId", [None])[0]
            return 200, [{"id": c["id"], "clientId": c["clientId"]} for c in self.clients.values()
                         if wanted is None or c["clientId"] == wanted]
        if path == "/clients" and method == "POST":
            rep = json.loads(body)
            required = {"publicClient": False, "serviceAccountsEnabled": True, "directAccessGrantsEnabled": False,
                        "standardFlowEnabled": True, "enabled": True}
            if any(rep.get(k) != v for k, v in required.items()) or not re.fullmatch(r"[a-z0-9_-]+", rep.get("clientId", "")):
                return 400, {"errorMessage": "bad client representation"}
            if any(c["clientId"] == rep["clientId"] for c in self.clients.values()):
                return 409, {"errorMessage": "Client already exists"}
            client = self.add_client(rep["clientId"])
            client["representation"] = rep
            return 201, None, {"Location": f"{self.url}/admin/realms/{REALM}/clients/{client['id']}"}
        match = re.fullmatch(r"/clients/([^/]+)(/client-secret|/service-account-user)?", path)
        if match:
            client = self.clients.get(match.group(1))
            if client is None:
                return 404, {"error": "Could not find client"}
            if match.group(2) == "/client-secret" and method == "GET":
                return 200, {"type": "secret", "value": client["secret"]}
            if match.group(2) == "/client-secret" and method == "POST":
                client["secret"] = secrets.token_urlsafe(24)
                return 200, {"type": "secret", "value": client["secret"]}
            if match.group(2) == "/service-account-user" and method == "GET":
                return 200, self.users[client["sa_user"]]
            if match.group(2) is None and method == "DELETE":
                del self.clients[client["id"]]
                return 204, None
            return None
        match = re.fullmatch(r"/roles/([^/]+)", path)
        if match and method == "GET":
            role = self.roles.get(match.group(1))
            return (200, role) if role else (404, {"error": "Could not find role"})
        match = re.fullmatch(r"/users/([^/]+)/role-mappings/realm", path)
        if match and method == "POST":
            roles = json.loads(body)
            if match.group(1) not in self.users or not all(r in self.roles.values() for r in roles):
                return 404, {"error": "not found"}
            self.role_mappings.setdefault(match.group(1), []).extend(roles)
            return 204, None
        if path == "/users" and method == "GET":
            if query.get("exact") != ["true"]:
                return 400, {"error": "expected exact=true"}
            name = query.get("username", [""])[0].lower()
            return 200, [u for u in self.users.values() if u["username"].lower() == name]
        match = re.fullmatch(r"/users/([^/]+)", path)
        if match and method == "DELETE":
            return (204, None) if self.users.pop(match.group(1), None) else (404, {"error": "not found"})
        return None
