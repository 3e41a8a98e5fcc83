from __future__ import annotations

from django.db import models

from apps.events.models import Event, Session
from apps.timing.engine.flags import Flags


# One source of truth for flag values: the engine's enum; the database only borrows it as choices.
Flag = models.IntegerChoices("Flag", [(f.name, (f.value, f.name.replace("_", " ").title())) for f in Flags])


class CarLap(models.Model):
    """One completed lap of one car, with the car's whole state at the line."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="car_laps")
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="car_laps")
    car_number = models.CharField(max_length=20)
    lap_number = models.IntegerField()
    timestamp = models.DateTimeField()
    flag = models.IntegerField(choices=Flag.choices, default=Flag.UNKNOWN)
    car = models.JSONField(help_text="The car's CarPosition at the end of the lap.")

    class Meta:
        ordering = ["session", "car_number", "lap_number"]
        indexes = [models.Index(fields=["event", "session", "car_number", "lap_number"], name="carlap_lookup")]
        constraints = [
            # A replayed or resent message must not write a lap twice.
            models.UniqueConstraint(fields=["session", "car_number", "lap_number"], name="carlap_unique_lap"),
        ]

    def __str__(self) -> str:
        return f"#{self.car_number} lap {self.lap_number}"


class FlagPeriod(models.Model):
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="flag_periods")
    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="flag_periods")
    flag = models.IntegerField(choices=Flag.choices)
    start_time = models.DateTimeField()
    end_time = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["session", "start_time"]
        constraints = [
            models.UniqueConstraint(fields=["session", "flag", "start_time"], name="flagperiod_unique_start"),
        ]

    def __str__(self) -> str:
        return f"{self.get_flag_display()} from {self.start_time:%H:%M:%S}"
