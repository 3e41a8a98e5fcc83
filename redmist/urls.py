from django.contrib import admin
from django.urls import include, path

from apps.orgs.urls import user_management_urlpatterns
from apps.relay.hub import relay_hub_negotiate
from apps.timing.views import live_board
from redmist import health

admin.site.site_header = "RedMist Timing & Scoring"
admin.site.site_title = "RedMist"
admin.site.index_title = "Organizer console"

urlpatterns = [
    path("healthz/startup", health.startup, name="health-startup"),
    path("healthz/live", health.live, name="health-live"),
    path("healthz/ready", health.ready, name="health-ready"),
    path("admin/", admin.site.urls),
    path("live/<int:event_id>/", live_board, name="live-board"),
    path("relay/hub/negotiate", relay_hub_negotiate, name="relay-hub-negotiate"),  # SignalR relays
    path("", include("apps.orgs.urls_auth")),
    # Management API (docs/api-management.md): the reference's /{controller}/{action} routes, also under /v1/.
    path("event-management/v1/", include(("apps.events.urls_management", "em"), namespace="event-management-v1")),
    path("event-management/", include(("apps.events.urls_management", "em"), namespace="event-management")),
    path("user-management/v1/", include((user_management_urlpatterns, "um"), namespace="user-management-v1")),
    path("user-management/", include((user_management_urlpatterns, "um"), namespace="user-management")),
    # Status API (docs/api-status.md): /status/[v1|v2/]Events/{action}, /status/[v1/]Organization/{action}.
    path("", include("apps.events.urls_status")),
]
