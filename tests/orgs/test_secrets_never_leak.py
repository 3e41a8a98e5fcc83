"""A client secret is shown once, when it is made; after that it appears in no log, admin page or API response,
and it is never stored in plain text. Neither are access tokens logged."""

import logging
import re

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from apps.orgs.models import ApiClient, Organization, RelayClient

UM = "/user-management/v1/Organization"
EM = "/event-management/v1"


@pytest.fixture
def everything_logged(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def _as(user):
    client = APIClient()
    client.force_login(user)
    return client


def _everywhere_after_creation(admin_a, org_a, token=None):
    """Every page and API answer an organizer or a machine could look at afterwards."""
    api = _as(admin_a)
    pages = [
        api.get(f"{UM}/LoadClients"), api.get(f"{UM}/LoadRelayConnection"), api.get(f"{UM}/LoadUserOrganization"),
        api.get(f"{EM}/Organization/LoadOrganization"), api.get(f"{UM}/LoadMembers"),
        api.get(f"{EM}/Organization/LoadOrganization", HTTP_ACCEPT="application/x-msgpack"),
    ]
    admin_a.is_superuser = admin_a.is_staff = True  # the widest admin view
    admin_a.save()
    browser = APIClient()
    browser.force_login(admin_a)
    for model in (RelayClient, ApiClient):
        pages.append(browser.get(reverse(f"admin:orgs_{model._meta.model_name}_changelist")))
        for obj in model.objects.all():
            pages.append(browser.get(reverse(f"admin:orgs_{model._meta.model_name}_change", args=[obj.pk])))
    pages.append(browser.get(reverse("admin:orgs_organization_change", args=[org_a.pk])))
    if token:
        machine = APIClient()
        machine.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        pages += [machine.get(f"{EM}/Organization/LoadOrganization"), machine.get(f"{EM}/Event/LoadEventSummaries")]
    assert all(p.status_code == 200 for p in pages), [p.status_code for p in pages]
    return b"\n".join(p.content for p in pages)


def test_a_secret_made_through_the_api_is_shown_once_and_then_nowhere(admin_a, org_a, event_a, everything_logged,
                                                                       client):
    created = _as(admin_a).post(f"{UM}/CreateClient", {"kind": "relay", "name": "Pit Wall"}, format="json").json()
    secret = created["clientSecret"]
    assert secret and len(secret) >= 40
    token_response = client.post("/oauth/token", {"grant_type": "client_credentials", "client_id": created["clientId"],
                                                  "client_secret": secret})
    token = token_response.json()["access_token"]
    client.post("/oauth/token", {"grant_type": "client_credentials", "client_id": created["clientId"],
                                 "client_secret": secret + "-wrong"})
    rotated = _as(admin_a).post(f"{UM}/RotateClientSecret", {"clientId": created["clientId"]}, format="json").json()
    new_secret = rotated["clientSecret"]
    new_token = client.post("/oauth/token", {"grant_type": "client_credentials", "client_id": created["clientId"],
                                             "client_secret": new_secret}).json()["access_token"]

    shown_later = _everywhere_after_creation(admin_a, org_a, token=new_token)
    for value in (secret, new_secret, token, new_token, secret + "-wrong"):
        assert value.encode() not in shown_later
        assert value not in everything_logged.text
    stored = RelayClient.objects.get(client_id=created["clientId"])
    assert new_secret not in stored.secret_hash and re.fullmatch(r"sha256\$[0-9a-f]{64}", stored.secret_hash)
    assert "created relay client relay-pit-wall" in everything_logged.text  # logging works; it just omits secrets


def test_a_secret_made_in_the_admin_is_shown_on_that_page_only(admin_a, org_a, everything_logged):
    admin_a.is_superuser = True
    admin_a.save()
    browser = APIClient()
    browser.force_login(admin_a)
    response = browser.post(reverse("admin:orgs_apiclient_add"),
                            {"organization": org_a.pk, "client_id": "api-console", "description": "",
                             "is_active": "on"}, follow=True)
    shown = re.search(r"shown only now: ([A-Za-z0-9_-]{40,})", response.content.decode())
    assert shown, "the new secret is shown once on creation"
    secret = shown.group(1)
    assert secret.encode() not in _everywhere_after_creation(admin_a, org_a)
    assert secret not in everything_logged.text


def test_signing_up_returns_the_relay_secret_once(django_user_model, everything_logged):
    user = django_user_model.objects.create_user(username="hank")
    response = _as(user).post(f"{UM}/SaveNewOrganization", {"name": "Hotel", "shortName": "hotel"}, format="json")
    secret = response.json()["clientSecret"]
    org = Organization.objects.get(short_name="hotel")
    assert secret.encode() not in _everywhere_after_creation(user, org)
    assert secret not in everything_logged.text


def test_stored_x2_and_flagtronics_credentials_are_encrypted_and_hidden_from_viewers(admin_a, viewer_a, org_a):
    _as(admin_a).post(f"{EM}/Organization/UpdateOrganization",
                      {"x2": {"password": "x2-secret-pass"}, "flagtronicsApiKey": "ft-secret-key"}, format="json")
    org_a.refresh_from_db()
    assert "x2-secret-pass" not in org_a.x2_password_encrypted
    assert "ft-secret-key" not in org_a.flagtronics_api_key_encrypted
    seen_by_viewer = _as(viewer_a).get(f"{EM}/Organization/LoadOrganization").content
    assert b"x2-secret-pass" not in seen_by_viewer and b"ft-secret-key" not in seen_by_viewer
