from django.contrib import admin

from apps.orgs.admin_scoping import OrgScopedAdmin
from apps.timing.models import CarLap, FlagPeriod


@admin.register(CarLap)
class CarLapAdmin(OrgScopedAdmin):
    org_path = "event__organization"
    read_only = True
    list_display = ("car_number", "lap_number", "session", "event", "timestamp", "flag")
    list_filter = ("flag", "event__organization")
    search_fields = ("car_number", "event__name")


@admin.register(FlagPeriod)
class FlagPeriodAdmin(OrgScopedAdmin):
    org_path = "event__organization"
    read_only = True
    list_display = ("flag", "session", "event", "start_time", "end_time")
    list_filter = ("flag", "event__organization")
    search_fields = ("event__name", "session__name")
