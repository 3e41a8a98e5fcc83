"""Create (or refresh) the demo organization, event, admin user and relay client for the embedded default."""

from __future__ import annotations

import datetime as dt
import json
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.events.models import Event
from apps.events.services import event_create
from apps.orgs.models import Organization, RelayClient, Role
from apps.orgs.services import machine_client_rotate_secret, membership_set, organization_create, relay_client_create

DEMO_SHORT_NAME = "demo"


class Command(BaseCommand):
    help = "Create the demo organization, event, admin user and relay client; write their credentials to var/demo.json."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    @transaction.atomic
    def handle(self, *args, username: str, **options):
        organization = Organization.objects.filter(short_name=DEMO_SHORT_NAME).first()
        if organization is None:
            organization = organization_create(
                name="Demo Racing Club",
                short_name=DEMO_SHORT_NAME,
                website="https://example.org",
                classes=[
                    {"name": "GTU", "order": 1, "color": "#D62828"},
                    {"name": "GTO", "order": 2, "color": "#F77F00"},
                ],
            )
        event = Event.objects.filter(organization=organization, name="Demo Endurance Race").first()
        if event is None:
            today = dt.date.today()
            event = event_create(
                organization=organization,
                name="Demo Endurance Race",
                start_date=today,
                end_date=today,
                track_name="Demo Raceway",
                is_active=True,
            )

        users = get_user_model()
        password = secrets.token_urlsafe(12)
        user = users.objects.filter(username=username).first()
        if user is None:
            user = users.objects.create_superuser(username=username, email="", password=password)
        else:
            user.set_password(password)
            user.is_superuser = user.is_staff = True
            user.save()
        membership_set(user=user, organization=organization, role=Role.ADMIN)

        client = RelayClient.objects.filter(organization=organization).first()
        if client is None:
            client, relay_secret = relay_client_create(organization=organization)
        else:
            relay_secret = machine_client_rotate_secret(client=client)

        credentials = {
            "admin_username": username,
            "admin_password": password,
            "organization_id": organization.id,
            "event_id": event.id,
            "relay_client_id": client.client_id,
            "relay_client_secret": relay_secret,
        }
        settings.VAR_DIR.mkdir(parents=True, exist_ok=True)
        path = settings.VAR_DIR / "demo.json"
        path.write_text(json.dumps(credentials, indent=2))
        path.chmod(0o600)
        self.stdout.write(f"Demo organization {organization.name!r}, event #{event.id} {event.name!r}.")
        self.stdout.write(f"Admin user {username!r}; credentials written to {path} (readable by you only).")
