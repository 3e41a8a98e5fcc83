from django.contrib import admin

from apps.controllog.models import ControlLogEntry
from apps.orgs.admin_scoping import OrgScopedAdmin


@admin.register(ControlLogEntry)
class ControlLogEntryAdmin(OrgScopedAdmin):
    org_path = "event__organization"
    editor_can_write = True
    list_display = ("order_id", "event", "timestamp", "car1", "car2", "corner", "status", "penalty_action")
    list_filter = ("status", "event__organization")
    search_fields = ("car1", "car2", "note", "penalty_action", "event__name")
