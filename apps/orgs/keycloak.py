"""The Keycloak Admin REST calls provisioning needs (used only when KEYCLOAK_ADMIN_URL is set).

Exactly these endpoints, under {KEYCLOAK_ADMIN_URL}:

  POST   /realms/{realm}/protocol/openid-connect/token          admin token (client credentials)
  GET    /admin/realms/{realm}/clients?clientId=…                find a client
  POST   /admin/realms/{realm}/clients                           create a client (id in the Location header)
  GET    /admin/realms/{realm}/clients/{id}/client-secret        read its secret (to show it once)
  POST   /admin/realms/{realm}/clients/{id}/client-secret        regenerate it (rotation)
  GET    /admin/realms/{realm}/clients/{id}/service-account-user its service-account user
  GET    /admin/realms/{realm}/roles/{name}                      a realm role (relay-svc)
  POST   /admin/realms/{realm}/users/{id}/role-mappings/realm    grant realm roles
  DELETE /admin/realms/{realm}/clients/{id}                      delete a client
  GET    /admin/realms/{realm}/users?username=…&exact=true       find a person
  DELETE /admin/realms/{realm}/users/{id}                        delete a person

Secrets are returned to the caller and never logged.
"""

from __future__ import annotations

import logging
import threading
import time
from urllib.parse import quote

import requests
from django.conf import settings

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
RELAY_ROLE = "relay-svc"


class KeycloakError(Exception):
    pass


class KeycloakAdmin:
    def __init__(self, *, base_url: str, realm: str, client_id: str, client_secret: str,
                 session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.realm = realm
        self._client_id = client_id
        self._client_secret = client_secret
        self._session = session or requests.Session()
        self._token: str | None = None
        self._token_expires = 0.0
        self._lock = threading.Lock()

    # -- plumbing ------------------------------------------------------------------------------------

    def _admin(self, path: str) -> str:
        return f"{self.base_url}/admin/realms/{quote(self.realm, safe='')}{path}"

    def _access_token(self) -> str:
        with self._lock:
            if self._token and time.monotonic() < self._token_expires - 30:
                return self._token
            url = f"{self.base_url}/realms/{quote(self.realm, safe='')}/protocol/openid-connect/token"
            response = self._session.post(
                url,
                data={"grant_type": "client_credentials", "client_id": self._client_id,
                      "client_secret": self._client_secret},
                timeout=TIMEOUT_SECONDS,
            )
            if response.status_code != 200:
                raise KeycloakError(f"Keycloak refused the admin client ({response.status_code})")
            body = response.json()
            self._token = body["access_token"]
            self._token_expires = time.monotonic() + int(body.get("expires_in", 60))
            return self._token

    def _call(self, method: str, path: str, *, expect: tuple[int, ...], **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self._access_token()}"}
        try:
            response = self._session.request(method, self._admin(path), headers=headers, timeout=TIMEOUT_SECONDS,
                                             **kwargs)
        except requests.RequestException as exc:
            raise KeycloakError(f"Keycloak is unreachable: {exc.__class__.__name__}") from None
        if response.status_code not in expect:
            logger.warning("Keycloak %s %s answered %s", method, path.split("?")[0], response.status_code)
            raise KeycloakError(f"Keycloak {method} {path.split('?')[0]} answered {response.status_code}")
        return response

    # -- clients -------------------------------------------------------------------------------------

    def client_find(self, *, client_id: str) -> dict | None:
        found = self._call("GET", "/clients", params={"clientId": client_id}, expect=(200,)).json()
        return next((c for c in found if c.get("clientId") == client_id), None)

    def client_create(self, *, client_id: str, description: str = "") -> str:
        """A confidential client with service accounts on; returns Keycloak's internal id."""
        representation = {
            "clientId": client_id,
            "description": description,
            "enabled": True,
            "protocol": "openid-connect",
            "publicClient": False,
            "clientAuthenticatorType": "client-secret",
            "serviceAccountsEnabled": True,
            "standardFlowEnabled": True,
            "directAccessGrantsEnabled": False,
            "redirectUris": ["/*"],
            "webOrigins": ["/*"],
        }
        response = self._call("POST", "/clients", json=representation, expect=(201,))
        location = response.headers.get("Location", "")
        internal_id = location.rstrip("/").rsplit("/", 1)[-1]
        if not internal_id:
            found = self.client_find(client_id=client_id)
            if not found:
                raise KeycloakError("Keycloak created the client but did not say where")
            internal_id = found["id"]
        return internal_id

    def client_secret_get(self, *, internal_id: str) -> str:
        return self._call("GET", f"/clients/{quote(internal_id)}/client-secret", expect=(200,)).json()["value"]

    def client_secret_regenerate(self, *, internal_id: str) -> str:
        return self._call("POST", f"/clients/{quote(internal_id)}/client-secret", expect=(200,)).json()["value"]

    def client_delete(self, *, internal_id: str) -> None:
        self._call("DELETE", f"/clients/{quote(internal_id)}", expect=(204, 404))

    def client_grant_realm_role(self, *, internal_id: str, role_name: str) -> None:
        user = self._call("GET", f"/clients/{quote(internal_id)}/service-account-user", expect=(200,)).json()
        role = self._call("GET", f"/roles/{quote(role_name)}", expect=(200,)).json()
        self._call("POST", f"/users/{quote(user['id'])}/role-mappings/realm",
                   json=[{"id": role["id"], "name": role["name"]}], expect=(204,))

    # -- people --------------------------------------------------------------------------------------

    def user_delete_by_username(self, *, username: str) -> bool:
        found = self._call("GET", "/users", params={"username": username, "exact": "true"}, expect=(200,)).json()
        user = next((u for u in found if u.get("username", "").lower() == username.lower()), None)
        if user is None:
            return False
        self._call("DELETE", f"/users/{quote(user['id'])}", expect=(204, 404))
        return True


def keycloak_admin() -> KeycloakAdmin | None:
    """The admin client when KEYCLOAK_ADMIN_URL is set, else None (provisioning is local)."""
    if not settings.KEYCLOAK_ADMIN_URL:
        return None
    return KeycloakAdmin(
        base_url=settings.KEYCLOAK_ADMIN_URL,
        realm=settings.KEYCLOAK_REALM,
        client_id=settings.KEYCLOAK_ADMIN_CLIENT_ID,
        client_secret=settings.KEYCLOAK_ADMIN_CLIENT_SECRET,
    )
