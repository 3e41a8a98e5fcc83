"""Authentication endpoints: the embedded token endpoint, its JWKS and discovery, and OIDC sign-in for people."""

from django.conf import settings
from django.urls import include, path

from apps.orgs import oauth

urlpatterns = [
    path("oauth/token", oauth.TokenView.as_view(), name="oauth-token"),
    # Keycloak's token path, so relays configured for Keycloak work against the embedded server unchanged.
    path("realms/redmist/protocol/openid-connect/token", oauth.TokenView.as_view(), name="oauth-token-keycloak"),
    path(".well-known/jwks.json", oauth.jwks_view, name="oauth-jwks"),
    path(".well-known/openid-configuration", oauth.discovery_view, name="oauth-discovery"),
]

if settings.OIDC_ISSUER:
    urlpatterns.append(path("oidc/", include("mozilla_django_oidc.urls")))
