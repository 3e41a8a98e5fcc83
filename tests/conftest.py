import datetime as dt

import pytest

from apps.events.services import event_create
from apps.orgs.models import Role
from apps.orgs.services import membership_set, organization_create


@pytest.fixture
def org_a(db):
    return organization_create(name="Alpha Racing", short_name="alpha")


@pytest.fixture
def org_b(db):
    return organization_create(name="Bravo Motorsport", short_name="bravo")


@pytest.fixture
def event_a(org_a):
    return event_create(organization=org_a, name="Alpha 8 Hours", start_date=dt.date(2026, 5, 1))


@pytest.fixture
def event_b(org_b):
    return event_create(organization=org_b, name="Bravo Sprint", start_date=dt.date(2026, 5, 2))


def _user(django_user_model, username, organization, role):
    user = django_user_model.objects.create_user(username=username, password="pw-" + username)
    membership_set(user=user, organization=organization, role=role)
    return user


@pytest.fixture
def admin_a(django_user_model, org_a):
    return _user(django_user_model, "alice", org_a, Role.ADMIN)


@pytest.fixture
def editor_a(django_user_model, org_a):
    return _user(django_user_model, "eddie", org_a, Role.EDITOR)


@pytest.fixture
def viewer_a(django_user_model, org_a):
    return _user(django_user_model, "vera", org_a, Role.VIEWER)


@pytest.fixture
def admin_b(django_user_model, org_b):
    return _user(django_user_model, "bob", org_b, Role.ADMIN)
