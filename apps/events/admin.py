from django.contrib import admin

from apps.events.models import CompetitorMetadata, Event, Session, SessionResult
from apps.orgs.admin_scoping import OrgScopedAdmin, OrgScopedInline


class SessionInline(OrgScopedInline):
    model = Session
    fields = ("session_id", "name", "start_time", "end_time", "is_live", "is_practice_qualifying")


@admin.register(Event)
class EventAdmin(OrgScopedAdmin):
    editor_can_write = True
    list_display = ("name", "organization", "start_date", "end_date", "track_name", "is_active", "is_live", "is_private")
    list_filter = ("is_active", "is_live", "is_private", "is_simulation", "is_archived", "is_deleted", "organization")
    search_fields = ("name", "track_name", "organization__name")
    date_hierarchy = "start_date"
    readonly_fields = ("is_live", "last_heartbeat", "created")
    inlines = [SessionInline]
    actions = ("soft_delete",)

    def delete_model(self, request, obj):
        # Events are soft-deleted, as in the management API: laps and results stay for the record.
        obj.is_deleted = True
        obj.save(update_fields=["is_deleted"])

    def delete_queryset(self, request, queryset):
        queryset.update(is_deleted=True)

    def get_deleted_objects(self, objs, request):
        # Nothing cascades on a soft delete, so the read-only laps and results need no delete permission.
        return [str(obj) for obj in objs], {}, set(), []

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Delete selected events (soft delete)", permissions=["delete"])
    def soft_delete(self, request, queryset):
        self.delete_queryset(request, queryset)

    def get_inline_instances(self, request, obj=None):
        # The inline inherits the event's permission: organizers who may edit the event may edit its sessions.
        inlines = super().get_inline_instances(request, obj)
        for inline in inlines:
            inline.has_add_permission = lambda request, obj=None, _s=self: _s.has_change_permission(request, obj)
            inline.has_change_permission = lambda request, obj=None, _s=self: _s.has_change_permission(request, obj)
            inline.has_delete_permission = lambda request, obj=None, _s=self: _s.has_delete_permission(request, obj)
            inline.has_view_permission = lambda request, obj=None, _s=self: _s.has_view_permission(request, obj)
        return inlines


@admin.register(Session)
class SessionAdmin(OrgScopedAdmin):
    org_path = "event__organization"
    editor_can_write = True
    list_display = ("__str__", "event", "start_time", "end_time", "is_live", "is_practice_qualifying")
    list_filter = ("is_live", "is_practice_qualifying", "event__organization")
    search_fields = ("name", "event__name")


@admin.register(SessionResult)
class SessionResultAdmin(OrgScopedAdmin):
    org_path = "event__organization"
    read_only = True
    list_display = ("session", "event", "start", "created")
    list_filter = ("event__organization",)
    search_fields = ("event__name", "session__name")


@admin.register(CompetitorMetadata)
class CompetitorMetadataAdmin(OrgScopedAdmin):
    org_path = "event__organization"
    editor_can_write = True
    list_display = ("car_number", "event", "first_name", "last_name", "car_class", "make", "transponder")
    list_filter = ("car_class", "event__organization")
    search_fields = ("car_number", "first_name", "last_name", "sponsor", "event__name")
