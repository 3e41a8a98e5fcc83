from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from apps.orgs.models import Organization

ACCESS_CODE_VALIDATOR = RegexValidator(r"^[0-9]{1,7}$", "The access code is 1 to 7 digits.")


class EventQuerySet(models.QuerySet):
    def visible(self) -> "EventQuerySet":
        return self.filter(is_deleted=False)


class Event(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="events")
    name = models.CharField(max_length=512)
    start_date = models.DateField()
    end_date = models.DateField()
    track_name = models.CharField(max_length=128, blank=True)
    course_configuration = models.CharField(max_length=64, blank=True)
    distance = models.CharField(max_length=20, blank=True)
    event_url = models.URLField(max_length=512, blank=True)
    is_active = models.BooleanField(default=False)
    is_live = models.BooleanField(default=False, editable=False)
    is_private = models.BooleanField(default=False)
    access_code = models.CharField(max_length=7, blank=True, validators=[ACCESS_CODE_VALIDATOR])
    hide_name = models.BooleanField(default=False)
    is_simulation = models.BooleanField(default=False)
    is_archived = models.BooleanField(default=False)
    is_deleted = models.BooleanField(default=False)
    enable_source_data_logging = models.BooleanField(default=True)
    schedule = models.JSONField(default=dict, blank=True)
    broadcast = models.JSONField(default=dict, blank=True)
    loops_metadata = models.JSONField(default=list, blank=True)
    last_heartbeat = models.DateTimeField(null=True, blank=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)

    objects = EventQuerySet.as_manager()

    class Meta:
        ordering = ["-start_date", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(is_private=False) | ~Q(access_code=""),
                name="event_private_needs_access_code",
                violation_error_message="A private event needs an access code.",
            ),
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")),
                name="event_ends_after_start",
                violation_error_message="The event cannot end before it starts.",
            ),
        ]
        indexes = [models.Index(fields=["organization", "is_deleted", "start_date"])]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.is_private and not self.access_code:
            raise ValidationError({"access_code": "A private event needs an access code."})


class Session(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="sessions")
    session_id = models.IntegerField(help_text="The timing system's session id.")
    name = models.CharField(max_length=64, blank=True)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField(null=True, blank=True)
    last_updated = models.DateTimeField(null=True, blank=True)
    is_live = models.BooleanField(default=False)
    is_practice_qualifying = models.BooleanField(default=False)
    local_time_zone_offset = models.FloatField(default=0.0, help_text="Hours from UTC at the track.")

    class Meta:
        ordering = ["-start_time"]
        constraints = [
            models.UniqueConstraint(fields=["event", "session_id"], name="session_unique_per_event"),
        ]

    def __str__(self) -> str:
        return f"{self.name or 'Session'} #{self.session_id}"


class SessionResult(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="results")
    session = models.OneToOneField(Session, on_delete=models.CASCADE, related_name="result")
    start = models.DateTimeField()
    session_state = models.JSONField()
    control_logs = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-start"]

    def __str__(self) -> str:
        return f"Result of {self.session}"


class CompetitorMetadata(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="competitors")
    car_number = models.CharField(max_length=16)
    transponder = models.BigIntegerField(null=True, blank=True)
    transponder2 = models.BigIntegerField(null=True, blank=True)
    car_class = models.CharField("class", max_length=40, blank=True)
    first_name = models.CharField(max_length=64, blank=True)
    last_name = models.CharField(max_length=64, blank=True)
    nation_state = models.CharField(max_length=64, blank=True)
    sponsor = models.CharField(max_length=128, blank=True)
    make = models.CharField(max_length=64, blank=True)
    model_engine = models.CharField(max_length=64, blank=True)
    hometown = models.CharField(max_length=64, blank=True)
    club = models.CharField(max_length=64, blank=True)
    tires = models.CharField(max_length=64, blank=True)
    email = models.CharField(max_length=254, blank=True)
    last_updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["car_number"]
        verbose_name_plural = "competitor metadata"
        constraints = [
            models.UniqueConstraint(fields=["event", "car_number"], name="competitor_unique_car_per_event"),
        ]

    def __str__(self) -> str:
        return f"#{self.car_number} {self.first_name} {self.last_name}".strip()
