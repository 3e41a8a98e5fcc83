from __future__ import annotations

from django.db import models

from apps.events.models import Event


class ControlLogEntry(models.Model):
    """One row of race control's log, as read from the organization's control-log source."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="control_log")
    order_id = models.IntegerField(help_text="Row number in the source.")
    timestamp = models.DateTimeField(null=True, blank=True)
    corner = models.CharField(max_length=64, blank=True)
    car1 = models.CharField(max_length=16, blank=True)
    car1_highlighted = models.BooleanField(default=False)
    car2 = models.CharField(max_length=16, blank=True)
    car2_highlighted = models.BooleanField(default=False)
    note = models.TextField(blank=True)
    status = models.CharField(max_length=64, blank=True)
    penalty_action = models.CharField(max_length=128, blank=True)
    other_notes = models.TextField(blank=True)

    class Meta:
        ordering = ["event", "order_id"]
        verbose_name_plural = "control log entries"
        constraints = [models.UniqueConstraint(fields=["event", "order_id"], name="controllog_unique_row")]

    def __str__(self) -> str:
        return f"Row {self.order_id}: {self.car1} {self.note[:40]}"
