"""Event Management API routes: mounted by redmist/urls.py under /event-management/ and /event-management/v1/."""

from apps.events import api_management as api
from apps.orgs.routes import action
from apps.orgs.urls import event_management_urlpatterns as organization_urlpatterns

urlpatterns = [
    action("Event", "LoadEventSummaries", api.LoadEventSummaries),
    action("Event", "LoadEvent", api.LoadEvent),
    action("Event", "SaveNewEvent", api.SaveNewEvent),
    action("Event", "UpdateEvent", api.UpdateEvent),
    action("Event", "UpdateEventStatusActive", api.UpdateEventStatusActive),
    action("Event", "DeleteEvent", api.DeleteEvent),
    action("Event", "LoadEventLogs", api.LoadEventLogs),
    action("Event", "LoadEventLogsCount", api.LoadEventLogsCount),
    *organization_urlpatterns,
]
