from django.contrib import admin
from django.urls import include, path

from redmist import health

admin.site.site_header = "RedMist Timing & Scoring"
admin.site.site_title = "RedMist"
admin.site.index_title = "Organizer console"

urlpatterns = [
    path("healthz/startup", health.startup, name="health-startup"),
    path("healthz/live", health.live, name="health-live"),
    path("healthz/ready", health.ready, name="health-ready"),
    path("admin/", admin.site.urls),
    path("", include("apps.orgs.urls_auth")),
]
