"""With KEYCLOAK_ADMIN_URL set, relay and API clients are provisioned in Keycloak through its admin REST API
(here a local stand-in that implements exactly the endpoints used and checks each request)."""

import pytest
from rest_framework.test import APIClient

from apps.orgs.keycloak import KeycloakAdmin, KeycloakError
from apps.orgs.models import ApiClient, Organization, RelayClient
from apps.orgs.secrets import secret_matches
from apps.orgs.services import machine_client_create, machine_client_delete, machine_client_rotate_secret
from tests.orgs.keycloak_standin import ADMIN_CLIENT_ID, KeycloakStandIn

UM = "/user-management/v1/Organization"


@pytest.fixture
def keycloak(settings):
    standin = KeycloakStandIn(admin_secret="admin-secret-for-tests")
    settings.KEYCLOAK_ADMIN_URL = standin.url
    settings.KEYCLOAK_REALM = "redmist"
    settings.KEYCLOAK_ADMIN_CLIENT_ID = ADMIN_CLIENT_ID
    settings.KEYCLOAK_ADMIN_CLIENT_SECRET = "admin-secret-for-tests"
    yield standin
    assert standin.unexpected == []  # nothing outside the documented endpoints was called
    standin.close()


def _person(django_user_model, username="dana"):
    user = django_user_model.objects.create_user(username=username, email=f"{username}@example.org")
    client = APIClient()
    client.force_login(user)
    return user, client


def test_signing_up_creates_a_confidential_keycloak_client_with_the_relay_role(keycloak, django_user_model):
    _, client = _person(django_user_model)
    response = client.post(f"{UM}/SaveNewOrganization", {"name": "Delta Racing", "shortName": "Delta"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    (kc,) = keycloak.clients.values()
    assert kc["clientId"] == body["clientId"] == "relay-delta"
    assert kc["representation"]["description"] == "dana@example.org"
    assert body["clientSecret"] == kc["secret"]  # Keycloak's secret, shown once
    assert keycloak.role_mappings[kc["sa_user"]] == [keycloak.roles["relay-svc"]]
    local = RelayClient.objects.get(client_id="relay-delta")
    assert secret_matches(secret=kc["secret"], digest=local.secret_hash)


def test_an_api_client_gets_no_relay_role(keycloak, org_a):
    client, secret = machine_client_create(organization=org_a, kind="api", name="Team Alpha!!")
    (kc,) = keycloak.clients.values()
    assert client.client_id == kc["clientId"] == "api-team-alpha"  # sanitized the same way locally and there
    assert keycloak.role_mappings == {} and secret == kc["secret"]


def test_rotation_regenerates_the_secret_in_keycloak(keycloak, org_a):
    client, old = machine_client_create(organization=org_a, kind="relay")
    new = machine_client_rotate_secret(client=client)
    (kc,) = keycloak.clients.values()
    assert new != old and new == kc["secret"]
    client.refresh_from_db()
    assert secret_matches(secret=new, digest=client.secret_hash) and not secret_matches(secret=old,
                                                                                          digest=client.secret_hash)


def test_revoking_deletes_the_keycloak_client(keycloak, org_a):
    client, _ = machine_client_create(organization=org_a, kind="relay")
    machine_client_delete(client=client)
    assert keycloak.clients == {} and not RelayClient.objects.exists()


def test_a_client_id_taken_in_keycloak_is_reported_taken(keycloak, django_user_model, org_a):
    keycloak.add_client("relay-echo")
    _, client = _person(django_user_model)
    assert client.get(f"{UM}/RelayClientNameExists?name=Echo").json() is True
    assert client.get(f"{UM}/ApiClientNameExists?name=Echo").json() is False
    refused = client.post(f"{UM}/SaveNewOrganization", {"name": "Echo", "shortName": "echo"}, format="json")
    assert refused.status_code == 400 and "shortName" in refused.json()
    assert not Organization.objects.filter(short_name="echo").exists()


def test_a_keycloak_failure_midway_leaves_nothing_behind(keycloak, django_user_model):
    keycloak.roles.clear()  # the realm lacks relay-svc: granting it fails after the client was created
    _, client = _person(django_user_model)
    response = client.post(f"{UM}/SaveNewOrganization", {"name": "Fox", "shortName": "fox"}, format="json")
    assert response.status_code == 502
    assert keycloak.clients == {}
    assert not Organization.objects.filter(short_name="fox").exists() and not RelayClient.objects.exists()


def test_deleting_an_account_deletes_the_keycloak_user_and_the_orgs_clients(keycloak, django_user_model):
    user, client = _person(django_user_model, "gina")
    client.post(f"{UM}/SaveNewOrganization", {"name": "Golf", "shortName": "golf"}, format="json")
    keycloak.users["person-1"] = {"id": "person-1", "username": "gina"}
    assert client.delete(f"{UM}/DeleteUserAccount").status_code == 200
    assert keycloak.clients == {} and "person-1" not in keycloak.users
    assert ("DELETE", "/admin/realms/redmist/users/person-1") in keycloak.calls


def test_the_admin_token_is_fetched_once_and_reused(keycloak):
    admin = KeycloakAdmin(base_url=keycloak.url, realm="redmist", client_id=ADMIN_CLIENT_ID,
                          client_secret="admin-secret-for-tests")
    admin.client_create(client_id="relay-x")
    assert admin.client_find(client_id="relay-x") and admin.client_find(client_id="relay-y") is None
    assert keycloak.token_requests == 1


def test_a_wrong_admin_secret_is_an_error_not_a_crash(keycloak):
    admin = KeycloakAdmin(base_url=keycloak.url, realm="redmist", client_id=ADMIN_CLIENT_ID, client_secret="nope")
    with pytest.raises(KeycloakError):
        admin.client_find(client_id="relay-x")


def test_without_keycloak_clients_are_local(org_a, settings):
    settings.KEYCLOAK_ADMIN_URL = ""
    client, secret = machine_client_create(organization=org_a, kind="api")
    assert isinstance(client, ApiClient) and secret_matches(secret=secret, digest=client.secret_hash)


def test_a_client_added_in_the_admin_is_created_in_keycloak_and_rotated_there(keycloak, admin_a, org_a):
    from django.urls import reverse

    admin_a.is_superuser = admin_a.is_staff = True
    admin_a.save()
    browser = APIClient()
    browser.force_login(admin_a)
    response = browser.post(reverse("admin:orgs_relayclient_add"),
                            {"organization": org_a.pk, "client_id": "relay-pits", "description": "pit lane",
                             "is_active": "on"}, follow=True)
    (kc,) = keycloak.clients.values()
    assert kc["clientId"] == "relay-pits" and kc["secret"].encode() in response.content  # shown once
    assert keycloak.role_mappings[kc["sa_user"]] == [keycloak.roles["relay-svc"]]
    local = RelayClient.objects.get(client_id="relay-pits")
    assert secret_matches(secret=kc["secret"], digest=local.secret_hash)
    browser.post(reverse("admin:orgs_relayclient_changelist"),
                 {"action": "rotate_secret", "_selected_action": [local.pk]})
    local.refresh_from_db()
    assert secret_matches(secret=kc["secret"], digest=local.secret_hash)  # kc["secret"] is the regenerated one
    assert ("POST", f"/admin/realms/redmist/clients/{kc['id']}/client-secret") in keycloak.calls
