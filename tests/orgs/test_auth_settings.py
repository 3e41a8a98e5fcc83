"""Authentication settings come from the environment; a bad value stops the process naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CODE = ("import django, os; os.environ['DJANGO_SETTINGS_MODULE']='redmist.settings'; django.setup(); "
        "from django.conf import settings as s; print(s.AUTHENTICATION_BACKENDS[0], s.OIDC_OP_JWKS_ENDPOINT)")


def _load(tmp_path, **overrides):
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("OIDC_", "KEYCLOAK_", "REDIS_URL"))}
    environment.update(REDMIST_VAR_DIR=str(tmp_path), **overrides)
    return subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"OIDC_ISSUER": "auth.example.org/realms/redmist"}, "OIDC_ISSUER"),
        ({"OIDC_ISSUER": "https://auth.example.org/realms/redmist"}, "OIDC_RP_CLIENT_ID"),
        ({"KEYCLOAK_ADMIN_URL": "https://auth.example.org"}, "KEYCLOAK_ADMIN_CLIENT_SECRET"),
        ({"JWT_TOKEN_LIFETIME_SECONDS": "5"}, "JWT_TOKEN_LIFETIME_SECONDS"),
    ],
)
def test_a_bad_authentication_setting_stops_the_process_naming_it(tmp_path, overrides, named):
    result = _load(tmp_path, **overrides)
    assert result.returncode != 0 and named in result.stderr


def test_an_issuer_turns_on_oidc_sign_in_with_keycloaks_endpoints(tmp_path):
    result = _load(tmp_path, OIDC_ISSUER="https://auth.example.org/realms/redmist/", OIDC_RP_CLIENT_ID="redmist-admin",
                   OIDC_RP_CLIENT_SECRET="s3cret")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["apps.orgs.oidc.RedMistOIDCBackend",
                                     "https://auth.example.org/realms/redmist/protocol/openid-connect/certs"]
