"""Invalidate the status API's cache when the data behind it changes (see selectors.status_cache_bump)."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save


def _event_scoped(sender, instance, **kwargs):
    from apps.events.selectors import status_cache_bump

    event_id = instance.pk if sender.__name__ == "Event" else getattr(instance, "event_id", None)
    status_cache_bump(event_id=event_id)


def _organization(sender, instance, **kwargs):
    from apps.events.selectors import status_cache_bump

    status_cache_bump(organization_id=instance.pk)


def connect() -> None:
    from apps.controllog.models import ControlLogEntry
    from apps.events.models import CompetitorMetadata, Event, Session, SessionResult
    from apps.orgs.models import Organization
    from apps.timing.models import CarLap, FlagPeriod

    for model in (Event, Session, SessionResult, CompetitorMetadata, ControlLogEntry, CarLap, FlagPeriod):
        post_save.connect(_event_scoped, sender=model, dispatch_uid=f"status-cache-{model.__name__}-save")
        post_delete.connect(_event_scoped, sender=model, dispatch_uid=f"status-cache-{model.__name__}-delete")
    post_save.connect(_organization, sender=Organization, dispatch_uid="status-cache-org-save")
    post_delete.connect(_organization, sender=Organization, dispatch_uid="status-cache-org-delete")
