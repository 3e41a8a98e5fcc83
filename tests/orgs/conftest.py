import time
import uuid

import jwt
import pytest

from apps.orgs.machine_auth import jwks_caches_clear
from apps.orgs.signing import public_jwk, secret_fingerprint, signing_key_load


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The shared fixtures give every user a password; PBKDF2 would make the 460-case matrix crawl."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_key_caches():
    jwks_caches_clear()
    yield
    jwks_caches_clear()


@pytest.fixture
def forge(settings):
    """forge(client, **overrides) -> a token signed with the embedded key; overrides replace claims or headers."""

    def make(client, *, key=None, headers=None, drop=(), **claims):
        key = key or signing_key_load()
        now = int(time.time())
        body = {
            "iss": settings.JWT_LOCAL_ISSUER, "aud": settings.OIDC_AUDIENCE, "sub": "svc", "azp": client.client_id,
            "client_id": client.client_id, "iat": now, "nbf": now, "exp": now + 300, "jti": str(uuid.uuid4()),
            "sfp": secret_fingerprint(secret_hash=client.secret_hash),
        }
        body.update(claims)
        for name in drop:
            body.pop(name, None)
        head = {"kid": public_jwk(key=key)["kid"]}
        head.update(headers or {})
        return jwt.encode(body, key, algorithm="RS256", headers=head)

    return make


@pytest.fixture
def http_stub():
    """http_stub({path: (status, content_type, body)}) -> base URL of a local HTTP server answering GETs."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    servers = []

    def start(routes):
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                status, content_type, body = routes.get(self.path.split("?")[0], (404, "text/plain", "no"))
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()
