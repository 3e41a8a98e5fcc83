"""A real, minimal OpenID provider for tests, served over HTTP from a thread.

Discovery (/.well-known/openid-configuration), JWKS (/certs), token endpoint (/token: client_credentials and
authorization_code) and userinfo (/userinfo), RS256 keys made with `cryptography`, tokens signed with PyJWT.
`rotate()` adds a new signing key (optionally dropping the old one); `requests_seen` counts hits per path.
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from apps.orgs.signing import public_jwk


class LocalOpenIDProvider:
    def __init__(self, *, audience: str = "account"):
        self.audience = audience
        self.keys = [rsa.generate_private_key(public_exponent=65537, key_size=2048)]
        self.clients: dict[str, str] = {}  # client id -> secret
        self.codes: dict[str, dict] = {}  # authorization code -> {nonce, user claims}
        self.access_tokens: dict[str, dict] = {}  # access token -> userinfo claims
        self.requests_seen: Counter = Counter()
        self.lifetime = 300
        self.discovery_issuer_override: str | None = None
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                path = self.path.split("?")[0]
                provider.requests_seen[path] += 1
                if path == "/.well-known/openid-configuration":
                    self._send(200, provider.discovery())
                elif path == "/certs":
                    self._send(200, {"keys": [public_jwk(key=k) for k in provider.keys]})
                elif path == "/userinfo":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    claims = provider.access_tokens.get(token)
                    self._send(200, claims) if claims else self._send(401, {"error": "invalid_token"})
                else:
                    self._send(404, {"error": "not_found"})

            def do_POST(self):
                path = self.path.split("?")[0]
                provider.requests_seen[path] += 1
                if path != "/token":
                    return self._send(404, {"error": "not_found"})
                length = int(self.headers.get("Content-Length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                basic = self.headers.get("Authorization", "")
                if basic.startswith("Basic "):
                    cid, _, sec = base64.b64decode(basic[6:]).decode().partition(":")
                    form.setdefault("client_id", cid)
                    form.setdefault("client_secret", sec)
                status, body = provider.token(form)
                self._send(status, body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.issuer = self.url
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    # -- provider behaviour ------------------------------------------------------------------------

    def discovery(self) -> dict:
        return {
            "issuer": self.discovery_issuer_override or self.issuer,
            "jwks_uri": f"{self.url}/certs",
            "token_endpoint": f"{self.url}/token",
            "userinfo_endpoint": f"{self.url}/userinfo",
            "authorization_endpoint": f"{self.url}/auth",
            "id_token_signing_alg_values_supported": ["RS256"],
        }

    def register(self, client_id: str) -> str:
        self.clients[client_id] = secrets.token_urlsafe(24)
        return self.clients[client_id]

    def sign(self, claims: dict, *, key=None) -> str:
        key = key or self.keys[-1]
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": public_jwk(key=key)["kid"]})

    def token(self, form: dict) -> tuple[int, dict]:
        now = int(time.time())
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if self.clients.get(client_id) != secret or not secret:
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") == "client_credentials":
            claims = {"iss": self.issuer, "aud": self.audience, "azp": client_id, "client_id": client_id,
                      "sub": str(uuid.uuid4()), "iat": now, "exp": now + self.lifetime, "jti": str(uuid.uuid4()),
                      "typ": "Bearer", "realm_access": {"roles": ["relay-svc"]}}
            return 200, {"access_token": self.sign(claims), "token_type": "Bearer", "expires_in": self.lifetime}
        if form.get("grant_type") == "authorization_code":
            grant = self.codes.pop(form.get("code", ""), None)
            if grant is None:
                return 400, {"error": "invalid_grant"}
            access = secrets.token_urlsafe(16)
            self.access_tokens[access] = grant["user"]
            id_token = self.sign({"iss": self.issuer, "aud": client_id, "sub": grant["user"]["sub"], "iat": now,
                                  "exp": now + self.lifetime, "nonce": grant["nonce"], **grant["user"]})
            return 200, {"access_token": access, "id_token": id_token, "token_type": "Bearer",
                         "expires_in": self.lifetime}
        return 400, {"error": "unsupported_grant_type"}

    def authorize(self, *, user: dict, nonce: str) -> str:
        """Skip the login page: the person signed in; returns the authorization code the browser brings back."""
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"nonce": nonce, "user": user}
        return code

    def rotate(self, *, keep_old: bool = True) -> None:
        new = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.keys = [*self.keys, new] if keep_old else [new]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
