"""The embedded default's OAuth2 client-credentials token endpoint, JWKS and discovery document.

With OIDC_ISSUER set, Keycloak issues tokens and these endpoints answer 404 (pointing to the issuer).
"""

from __future__ import annotations

import base64
import binascii
import logging
from urllib.parse import unquote_plus

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.http import require_GET
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.orgs.machine_auth import MachineAuthError, client_credentials_exchange
from apps.orgs.signing import local_jwks
from apps.orgs.throttles import TokenEndpointThrottle

logger = logging.getLogger(__name__)

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _external_issuer_response() -> JsonResponse:
    return JsonResponse(
        {"error": "not_found", "error_description": f"Tokens are issued by {settings.OIDC_ISSUER}."}, status=404
    )


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return ("", "")
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return ("", "")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
    return unquote_plus(client_id), unquote_plus(secret)


class TokenView(APIView):
    """POST grant_type=client_credentials with client_id/client_secret (form fields or HTTP Basic)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenEndpointThrottle]
    parser_classes = [FormParser, MultiPartParser, JSONParser]

    def _error(self, error: str, description: str, status: int, basic: bool = False) -> Response:
        headers = dict(_NO_STORE)
        if basic:
            headers["WWW-Authenticate"] = 'Basic realm="redmist"'
        return Response({"error": error, "error_description": description}, status=status, headers=headers)

    def post(self, request):
        if settings.OIDC_ISSUER:
            return _external_issuer_response()
        data = request.data
        grant_type = data.get("grant_type")
        if not grant_type:
            return self._error("invalid_request", "grant_type is required.", 400)
        if grant_type != "client_credentials":
            return self._error("unsupported_grant_type", "Only grant_type=client_credentials is supported.", 400)
        basic = _basic_credentials(request.META.get("HTTP_AUTHORIZATION", ""))
        if basic is not None:
            client_id, client_secret = basic
        else:
            client_id, client_secret = data.get("client_id") or "", data.get("client_secret") or ""
        if not isinstance(client_id, str) or not isinstance(client_secret, str):
            return self._error("invalid_request", "client_id and client_secret must be strings.", 400)
        if not client_id:
            return self._error("invalid_request", "client_id is required.", 400)
        if not client_secret:
            return self._error("invalid_client", "client_secret is required.", 401, basic is not None)
        try:
            issued = client_credentials_exchange(client_id=client_id, client_secret=client_secret)
        except MachineAuthError:
            logger.info("token request refused for client id %r", client_id[:64])
            return self._error("invalid_client", "Unknown client, wrong secret or inactive client.", 401,
                               basic is not None)
        return Response(
            {"access_token": issued.access_token, "token_type": issued.token_type, "expires_in": issued.expires_in},
            headers=_NO_STORE,
        )


@require_GET
def jwks_view(request):
    if settings.OIDC_ISSUER:
        return _external_issuer_response()
    return JsonResponse(local_jwks(), headers={"Cache-Control": "public, max-age=300"})


@require_GET
def discovery_view(request):
    if settings.OIDC_ISSUER:
        return _external_issuer_response()
    return JsonResponse(
        {
            "issuer": settings.JWT_LOCAL_ISSUER,
            "jwks_uri": request.build_absolute_uri("/.well-known/jwks.json"),
            "token_endpoint": request.build_absolute_uri("/oauth/token"),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["token"],
            "subject_types_supported": ["public"],
        }
    )
