from django.contrib import admin

from apps.orgs.admin_scoping import OrgScopedAdmin
from apps.relay.models import SourceLog


@admin.register(SourceLog)
class SourceLogAdmin(OrgScopedAdmin):
    org_path = "event__organization"
    read_only = True
    list_display = ("timestamp", "event", "session_id", "message_type")
    list_filter = ("message_type", "event__organization")
    search_fields = ("data", "event__name")
