from django.contrib import admin, messages

from apps.orgs.admin_scoping import OrgScopedAdmin
from apps.orgs.models import ApiClient, Membership, Organization, RelayClient, RelayLog
from apps.orgs.secrets import secret_generate, secret_hash


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

    def save_model(self, request, obj, form, change):
        secret = None
        if not change:
            secret = secret_generate()
            obj.secret_hash = secret_hash(secret=secret)
        super().save_model(request, obj, form, change)
        if secret:
            self.message_user(
                request,
                f"Client {obj.client_id} created. Its secret, shown only now: {secret}",
                messages.WARNING,
            )

    @admin.action(description="Rotate the secret (the old one stops working at once)")
    def rotate_secret(self, request, queryset):
        for client in queryset:
            if not self.has_change_permission(request, client):
                continue
            secret = secret_generate()
            client.secret_hash = secret_hash(secret=secret)
            client.save(update_fields=["secret_hash"])
            self.message_user(request, f"New secret for {client.client_id}, shown only now: {secret}", messages.WARNING)


@admin.register(RelayClient)
class RelayClientAdmin(MachineClientAdmin):
    pass


@admin.register(ApiClient)
class ApiClientAdmin(MachineClientAdmin):
    pass


@admin.register(RelayLog)
class RelayLogAdmin(OrgScopedAdmin):
    read_only = True
    list_display = ("timestamp", "organization", "level", "message")
    list_filter = ("level", "organization")
    search_fields = ("message", "exception")
    date_hierarchy = "timestamp"
