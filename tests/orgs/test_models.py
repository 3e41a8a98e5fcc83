import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.orgs.models import Membership, RelayClient, Role
from apps.orgs.secrets import secret_hash, secret_matches
from apps.orgs.services import api_client_create, client_id_sanitize, organization_create, relay_client_create


def test_client_ids_are_unique_across_organizations(org_a, org_b):
    relay_client_create(organization=org_a, client_id="relay-shared")
    with pytest.raises(ValidationError, match="Client id already exists"):
        relay_client_create(organization=org_b, client_id="relay-shared")
    with pytest.raises(IntegrityError), transaction.atomic():
        RelayClient.objects.create(organization=org_b, client_id="relay-shared", secret_hash="x")


def test_a_new_client_stores_only_a_hash_of_its_secret(org_a):
    client, secret = relay_client_create(organization=org_a)
    client.refresh_from_db()
    assert client.client_id == "relay-alpha"
    assert secret not in client.secret_hash
    assert client.secret_hash == secret_hash(secret=secret)
    assert secret_matches(secret=secret, digest=client.secret_hash)
    assert not secret_matches(secret=secret + "x", digest=client.secret_hash)


def test_client_ids_are_sanitized_the_same_way_everywhere(org_a):
    assert client_id_sanitize(raw="  Relay Alpha!! Team ") == "relay-alpha-team"
    client, _ = api_client_create(organization=org_a, client_id="API Alpha")
    assert client.client_id == "api-alpha"


def test_a_user_has_one_membership_per_organization(org_a, django_user_model):
    user = django_user_model.objects.create_user(username="u")
    Membership.objects.create(user=user, organization=org_a, role=Role.ADMIN)
    with pytest.raises(IntegrityError), transaction.atomic():
        Membership.objects.create(user=user, organization=org_a, role=Role.VIEWER)


def test_organization_short_names_are_unique_and_short(org_a):
    with pytest.raises(ValidationError):
        organization_create(name="Other", short_name="alpha")
    with pytest.raises(ValidationError):
        organization_create(name="Other", short_name="muchtoolong")


@pytest.mark.parametrize(
    "classes",
    [
        [{"name": "", "order": 1}],
        [{"name": "GT", "order": "first"}],
        [{"name": "GT", "color": "red"}],
        [{"name": "GT"}, {"name": "GT"}],
        {"name": "GT"},
    ],
)
def test_class_metadata_is_validated(db, classes):
    with pytest.raises(ValidationError):
        organization_create(name="Clubs", short_name="clubs", classes=classes)


def test_the_creator_of_an_organization_becomes_its_admin(django_user_model, db):
    user = django_user_model.objects.create_user(username="founder")
    organization = organization_create(name="Founders", short_name="found", creator=user)
    assert Membership.objects.get(user=user, organization=organization).role == Role.ADMIN
    user.refresh_from_db()
    assert user.is_staff
