"""Admin base class that limits an organizer to the rows of the organizations they belong to.

Django's own model permissions are global, so for organizers the membership role decides instead:
admins may add, change and delete; editors may add and change where `editor_can_write`; viewers only see.
Superusers keep Django's defaults.
"""

from __future__ import annotations

from django.contrib import admin

from apps.orgs.models import Role
from apps.orgs.selectors import organization_ids_for_user


class OrgScopedAdmin(admin.ModelAdmin):
    #: Lookup path from the model to its Organization, e.g. "organization" or "event__organization".
    org_path: str = "organization"
    #: Editors may write these rows (events, sessions, control logs); otherwise admins only.
    editor_can_write: bool = False
    #: Laps, flags and results are written by the timing worker, never by hand.
    read_only: bool = False

    def _org_ids(self, request, roles=(Role.ADMIN, Role.EDITOR, Role.VIEWER)) -> set[int]:
        cache = request.__dict__.setdefault("_redmist_org_ids", {})
        key = tuple(sorted(roles))
        if key not in cache:
            cache[key] = organization_ids_for_user(user=request.user, roles=roles)
        return cache[key]

    def _write_roles(self):
        return (Role.ADMIN, Role.EDITOR) if self.editor_can_write else (Role.ADMIN,)

    def _org_id_of(self, obj) -> int | None:
        target = obj
        for part in self.org_path.split("__"):
            target = getattr(target, part, None)
            if target is None:
                return None
        return target.pk

    def _allowed(self, request, obj, roles) -> bool:
        org_ids = self._org_ids(request, roles)
        if obj is None:
            return bool(org_ids)
        return self._org_id_of(obj) in org_ids

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self.org_path}__in": self._org_ids(request)})

    def has_module_permission(self, request):
        return request.user.is_superuser or bool(self._org_ids(request))

    def has_view_permission(self, request, obj=None):
        if request.user.is_superuser:
            return super().has_view_permission(request, obj)
        return self._allowed(request, obj, (Role.ADMIN, Role.EDITOR, Role.VIEWER))

    def has_add_permission(self, request, *args):
        if self.read_only:
            return False
        if request.user.is_superuser:
            return super().has_add_permission(request, *args)
        return bool(self._org_ids(request, self._write_roles()))

    def has_change_permission(self, request, obj=None):
        if self.read_only:
            return False
        if request.user.is_superuser:
            return super().has_change_permission(request, obj)
        return self._allowed(request, obj, self._write_roles())

    def has_delete_permission(self, request, obj=None):
        if self.read_only:
            return False
        if request.user.is_superuser:
            return super().has_delete_permission(request, obj)
        return self._allowed(request, obj, (Role.ADMIN,))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        # An organizer must not be able to attach a row to another organization's parent.
        if not request.user.is_superuser:
            model = db_field.related_model
            org_ids = self._org_ids(request, self._write_roles())
            if model._meta.label == "orgs.Organization":
                kwargs["queryset"] = model.objects.filter(id__in=org_ids)
            elif any(f.name == "organization" for f in model._meta.fields):
                kwargs["queryset"] = model.objects.filter(organization_id__in=org_ids)
            elif any(f.name == "event" for f in model._meta.fields):
                kwargs["queryset"] = model.objects.filter(event__organization_id__in=org_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class OrgScopedInline(admin.TabularInline):
    """Inline rows follow their parent's scoping; the parent admin already checked the organization."""

    extra = 0
