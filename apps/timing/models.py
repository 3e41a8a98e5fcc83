from __future__ import annotations

from django.db import models

from apps.events.models import Event, Session


class Flag(models.IntegerChoices):
    UNKNOWN = 0, "Unknown"
    GREEN = 1, "Green"
    YELLOW = 2, "Yellow"
    RED = 3, "Red"
    WHITE = 4, "White"
    CHECKERED = 5, "Checkered"
    BLACK = 6, "Black"
    PURPLE35 = 7, "Purple (35)"
    PURPLE60 = 8, "Purple (60)"
    BLUE = 9, "Blue"
    MEATBALL = 10, "Meatball"
    DEBRIS = 11, "Debris"
    WAVING_YELLOW = 12, "Waving yellow"


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
