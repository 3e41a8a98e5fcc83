"""Status API routes at the reference's paths (api-contract §3.1, §3.4): /status/v1/Events/{action} and the
unversioned /status/Events/{action} alias (V1), /status/v2/Events/{action} (V2), /status[/v1]/Organization/{action}.
Paths are matched case-insensitively through a fallback route (not in the schema)."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.events.api_status import EVENT_ACTIONS, ORGANIZATION_ACTIONS, V2_ONLY

_ROUTES: dict[str, dict] = {
    "status/v1/events": EVENT_ACTIONS,
    "status/events": EVENT_ACTIONS,
    "status/v2/events": EVENT_ACTIONS | V2_ONLY,
    "status/v1/organization": ORGANIZATION_ACTIONS,
    "status/organization": ORGANIZATION_ACTIONS,
}
_PREFIXES = {
    "status/v1/events": "status/v1/Events", "status/events": "status/Events", "status/v2/events": "status/v2/Events",
    "status/v1/organization": "status/v1/Organization", "status/organization": "status/Organization",
}
_VIEWS = {(prefix, action.lower()): view.as_view() for prefix, actions in _ROUTES.items()
          for action, view in actions.items()}


def _any_case(request, prefix: str, action: str):
    view = _VIEWS.get((prefix.lower().rstrip("/"), action.lower()))
    if view is None:
        from django.http import Http404

        raise Http404("No such action")
    return view(request)


_any_case.csrf_exempt = True

urlpatterns = [
    path(f"{_PREFIXES[prefix]}/{action}", view.as_view(), name=f"status-{prefix.replace('/', '-')}-{action}")
    for prefix, actions in _ROUTES.items() for action, view in actions.items()
] + [
    path("status/schema/", SpectacularAPIView.as_view(), name="status-schema"),
    path("status/swagger/", SpectacularSwaggerView.as_view(url_name="status-schema"), name="status-swagger"),
    re_path(r"^(?P<prefix>(?i:status/(?:v[12]/)?(?:events|organization)))/(?P<action>\w+)/?$", _any_case),
]
