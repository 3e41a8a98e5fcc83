"""What every management API view shares: authentication (bearer machine tokens, browser sessions with CSRF),
org-scoping permissions, JSON + MessagePack, write throttling, and errors that name the field."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import JSONParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.orgs.keycloak import KeycloakError
from apps.orgs.machine_auth import BearerMachineAuthentication
from apps.orgs.msgpack_drf import ContractJSONRenderer, JsonFallbackNegotiation, MessagePackParser, MessagePackRenderer
from apps.orgs.permissions import Capability, HasCapabilitySomewhere, IsPrincipal
from apps.orgs.throttles import WriteThrottle

_CAMEL = re.compile(r"_([a-z0-9])")


def camel(name: str) -> str:
    return _CAMEL.sub(lambda m: m.group(1).upper(), name)


class ManagementView(APIView):
    authentication_classes = [BearerMachineAuthentication, SessionAuthentication]
    permission_classes = [IsPrincipal, HasCapabilitySomewhere]
    renderer_classes = [ContractJSONRenderer, MessagePackRenderer]
    parser_classes = [JSONParser, MessagePackParser]
    throttle_classes = [WriteThrottle]
    content_negotiation_class = JsonFallbackNegotiation
    capability: Capability = Capability.READ
    #: model field name -> wire name, for errors raised by model validation
    wire_names: dict[str, str] = {}

    def handle_exception(self, exc):
        if isinstance(exc, DjangoValidationError):
            if hasattr(exc, "error_dict"):
                detail = {
                    self.wire_names.get(name, camel(name)) if name != "__all__" else "body": messages
                    for name, messages in exc.message_dict.items()
                }
            else:
                detail = {"body": exc.messages}
            exc = exceptions.ValidationError(detail)
        elif isinstance(exc, KeycloakError):
            return Response({"detail": "The identity provider could not complete the request."},
                            status=status.HTTP_502_BAD_GATEWAY)
        return super().handle_exception(exc)

    # -- query-string parameters (matched case-insensitively, as ASP.NET model binding does) --------------

    def query(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.request.query_params.items():
            if key.lower() == lowered:
                return value
        return None

    def query_int(self, name: str, *, required: bool = True, default: int | None = None,
                  minimum: int | None = None, maximum: int | None = None) -> int | None:
        raw = self.query(name)
        if raw is None or raw == "":
            if required:
                raise exceptions.ValidationError({name: "This query parameter is required."})
            return default
        try:
            value = int(raw)
        except ValueError:
            raise exceptions.ValidationError({name: "Must be a whole number."}) from None
        if minimum is not None and value < minimum:
            raise exceptions.ValidationError({name: f"Must be at least {minimum}."})
        if maximum is not None and value > maximum:
            raise exceptions.ValidationError({name: f"Must be at most {maximum}."})
        return value
