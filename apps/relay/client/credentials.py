"""How the relay proves who it is: OAuth2 client-credentials bearer tokens (refreshed before they
expire), or HTTP Basic with the client id and secret for servers without a token endpoint."""

from __future__ import annotations

import base64
import logging
import time

import requests

logger = logging.getLogger(__name__)


class TokenError(Exception):
    pass


class BearerCredentials:
    def __init__(self, *, token_url: str, client_id: str, client_secret: str, refresh_margin: float = 30.0) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_margin = refresh_margin
        self._token = ""
        self._expires = 0.0

    def _fetch(self) -> None:
        try:
            response = requests.post(self.token_url, data={"grant_type": "client_credentials", "client_id": self.client_id,
                                                           "client_secret": self.client_secret}, timeout=10)
        except requests.RequestException as exc:
            raise OSError(f"token endpoint unreachable: {exc}") from None  # retried like a lost connection
        if response.status_code in (400, 401, 403):
            raise TokenError(f"token endpoint refused the credentials ({response.status_code}): {response.text[:200]}")
        if response.status_code != 200:
            raise OSError(f"token endpoint answered {response.status_code}")
        body = response.json()
        self._token = body["access_token"]
        self._expires = time.monotonic() + float(body.get("expires_in", 300))

    def headers(self) -> dict[str, str]:
        if not self._token or time.monotonic() > self._expires - self.refresh_margin:
            self._fetch()
        return {"Authorization": f"Bearer {self._token}"}


class BasicCredentials:
    def __init__(self, *, client_id: str, client_secret: str) -> None:
        self._value = "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()

    def headers(self) -> dict[str, str]:
        return {"Authorization": self._value}
