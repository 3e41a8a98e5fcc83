from __future__ import annotations

from django.db import models

from apps.events.models import Event


class SourceLog(models.Model):
    """A raw message as the relay sent it, kept when the event enables source-data logging."""

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="source_logs")
    session_id = models.IntegerField(help_text="The timing system's session id (999999 = not applicable).")
    message_type = models.CharField(max_length=40)
    timestamp = models.DateTimeField()
    data = models.TextField()

    class Meta:
        ordering = ["timestamp", "id"]
        indexes = [models.Index(fields=["event", "timestamp", "id"], name="sourcelog_event_time")]

    def __str__(self) -> str:
        return f"{self.message_type} at {self.timestamp:%H:%M:%S.%f}"
