from django.contrib import admin, messages

from apps.orgs.admin_scoping import OrgScopedAdmin
from apps.orgs.models import ApiClient, Membership, Organization, RelayClient, RelayLog
from apps.orgs.services import machine_client_create, machine_client_delete, machine_client_rotate_secret


@admin.register(Organization)
class OrganizationAdmin(OrgScopedAdmin):
    org_path = "id"
    list_display = ("name", "short_name", "website", "control_log_type", "relay_version", "relay_last_connected")
    list_filter = ("control_log_type",)
    search_fields = ("name", "short_name")
    readonly_fields = ("relay_version", "relay_last_connected", "created")

    def get_queryset(self, request):
        queryset = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(id__in=self._org_ids(request))

    def _org_id_of(self, obj):
        return obj.pk

    def has_add_permission(self, request, *args):
        # New organizations come from sign-up (the management API), which makes the creator its admin.
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(Membership)
class MembershipAdmin(OrgScopedAdmin):
    list_display = ("user", "organization", "role")
    list_filter = ("role", "organization")
    search_fields = ("user__username", "user__email", "organization__name")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            # Organizers may change roles of their own people; they must not browse every account.
            kwargs["queryset"] = db_field.related_model.objects.filter(
                memberships__organization_id__in=self._org_ids(request, self._write_roles())
            ).distinct()
            return admin.ModelAdmin.formfield_for_foreignkey(self, db_field, request, **kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class MachineClientAdmin(OrgScopedAdmin):
    list_display = ("client_id", "organization", "is_active", "last_seen", "created")
    list_filter = ("is_active", "organization")
    search_fields = ("client_id", "description", "organization__name")
    readonly_fields = ("last_seen", "created")
    actions = ("rotate_secret",)

    kind = "relay"

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # New clients go through the provisioning service: one client-id rule, Keycloak when configured.
        created, secret = machine_client_create(
            organization=obj.organization, kind=self.kind, name=obj.client_id, description=obj.description
        )
        obj.pk, obj.client_id, obj.secret_hash, obj.created = (
            created.pk, created.client_id, created.secret_hash, created.created
        )
        obj._state.adding = False
        if obj.is_active != created.is_active:
            type(obj).objects.filter(pk=obj.pk).update(is_active=obj.is_active)
        self.message_user(
            request,
            f"Client {created.client_id} created. Its secret, shown only now: {secret}",
            messages.WARNING,
        )

    @admin.action(description="Rotate the secret (the old one stops working at once)")
    def rotate_secret(self, request, queryset):
        for client in queryset:
            if not self.has_change_permission(request, client):
                continue
            secret = machine_client_rotate_secret(client=client)
            self.message_user(request, f"New secret for {client.client_id}, shown only now: {secret}", messages.WARNING)

    def delete_model(self, request, obj):
        machine_client_delete(client=obj)

    def delete_queryset(self, request, queryset):
        for client in queryset:
            machine_client_delete(client=client)


@admin.register(RelayClient)
class RelayClientAdmin(MachineClientAdmin):
    kind = "relay"


@admin.register(ApiClient)
class ApiClientAdmin(MachineClientAdmin):
    kind = "api"


@admin.register(RelayLog)
class RelayLogAdmin(OrgScopedAdmin):
    read_only = True
    list_display = ("timestamp", "organization", "level", "message")
    list_filter = ("level", "organization")
    search_fields = ("message", "exception")
    date_hierarchy = "timestamp"
