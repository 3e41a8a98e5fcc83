from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models

CLIENT_ID_VALIDATOR = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,254}$",
    "Client ids are lower-case letters, digits, '-' and '_' (start with a letter or digit).",
)
SHORT_NAME_VALIDATOR = RegexValidator(r"^[A-Za-z0-9_-]{1,8}$", "Up to 8 letters, digits, '-' or '_'.")
COLOUR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")


class ControlLogType(models.TextChoices):
    NONE = "", "None"
    GOOGLE_SHEETS = "WRL Google Sheet", "Google Sheet (WRL)"
    GOOGLE_SHEETS_CHAMPCAR = "ChampCar Google Sheet", "Google Sheet (ChampCar)"
    ANNOUNCEMENT = "Announcement", "Announcements (external timing)"


def validate_class_metadata(value: object) -> None:
    """Classes are a list of {"name": 1-40 chars, "order": int, "color": "#RRGGBB"}."""
    if not isinstance(value, list):
        raise ValidationError("Classes must be a list.")
    seen: set[str] = set()
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise ValidationError(f"Class {index} must be an object.")
        name = item.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 40:
            raise ValidationError(f"Class {index}: name must be 1 to 40 characters.")
        if name in seen:
            raise ValidationError(f"Class {name!r} appears twice.")
        seen.add(name)
        if not isinstance(item.get("order", 0), int):
            raise ValidationError(f"Class {name!r}: order must be a whole number.")
        color = item.get("color", "")
        if color and not (isinstance(color, str) and COLOUR_RE.match(color)):
            raise ValidationError(f"Class {name!r}: color must look like #1A2B3C.")


class Organization(models.Model):
    name = models.CharField(max_length=255)
    short_name = models.CharField(max_length=8, unique=True, validators=[SHORT_NAME_VALIDATOR])
    website = models.URLField(max_length=1024, blank=True)
    logo = models.BinaryField(blank=True, null=True, editable=True)
    classes = models.JSONField(default=list, blank=True, validators=[validate_class_metadata])
    control_log_type = models.CharField(max_length=40, choices=ControlLogType.choices, blank=True, default="")
    control_log_params = models.CharField(max_length=512, blank=True)
    # Relay connection settings the relay reads at start-up.
    rmonitor_ip = models.CharField(max_length=40, blank=True)
    rmonitor_port = models.PositiveIntegerField(default=50000, validators=[MaxValueValidator(65535)])
    multiloop_ip = models.CharField(max_length=40, blank=True)
    multiloop_port = models.PositiveIntegerField(default=50004, validators=[MaxValueValidator(65535)])
    orbits_logs_path = models.CharField(max_length=512, blank=True)
    x2_server = models.CharField(max_length=255, blank=True)
    x2_username = models.CharField(max_length=255, blank=True)
    # Credentials the relay needs back in clear are kept encrypted (apps.orgs.secrets.field_encrypt).
    x2_password_encrypted = models.TextField(blank=True, editable=False)
    flagtronics_api_key_encrypted = models.TextField(blank=True, editable=False)
    flagtronics_url = models.CharField(max_length=512, blank=True)
    show_multiloop_connection = models.BooleanField(default=True)
    show_orbits_logs_connection = models.BooleanField(default=True)
    show_control_log_connection = models.BooleanField(default=True)
    show_x2_connection = models.BooleanField(default=True)
    show_flagtronics_connection = models.BooleanField(default=True)
    relay_version = models.CharField(max_length=18, blank=True)
    relay_last_connected = models.DateTimeField(null=True, blank=True)
    # Set when the last member deleted their account; such organizations are hidden everywhere.
    is_deleted = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "organization"], name="membership_unique_user_org")]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.role})"


class MachineClient(models.Model):
    """Fields shared by relay and API clients: an id, a hashed secret, and the owning organization."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE)
    client_id = models.CharField(max_length=255, unique=True, validators=[CLIENT_ID_VALIDATOR])
    secret_hash = models.CharField(max_length=128, editable=False)
    description = models.CharField(max_length=255, blank=True)
    is_active = models.BooleanField(default=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["client_id"]

    def __str__(self) -> str:
        return self.client_id


class RelayClient(MachineClient):
    class Meta(MachineClient.Meta):
        default_related_name = "relay_clients"


class ApiClient(MachineClient):
    class Meta(MachineClient.Meta):
        default_related_name = "api_clients"
        verbose_name = "API client"


class RelayLog(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="relay_logs")
    timestamp = models.DateTimeField(db_index=True)
    level = models.CharField(max_length=20)
    message = models.CharField(max_length=1024)
    exception = models.TextField(blank=True)

    class Meta:
        ordering = ["-timestamp"]
        indexes = [models.Index(fields=["organization", "timestamp"])]

    def __str__(self) -> str:
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.level} {self.message[:60]}"


