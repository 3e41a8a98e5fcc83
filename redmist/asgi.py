"""ASGI entry point: HTTP goes to Django, WebSockets to the Channels consumers in redmist.routing.

In the embedded default (no REDIS_URL) the timing worker lives in this process; it is started on the
first connection because daphne does not run ASGI lifespan events.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "redmist.settings")
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402  (needs Django set up first)
from django.conf import settings  # noqa: E402

from redmist.routing import websocket_urlpatterns  # noqa: E402

router = ProtocolTypeRouter(
    {
        "http": django_application,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)


async def application(scope, receive, send):
    if settings.EMBEDDED and settings.EMBEDDED_WORKER and scope["type"] in ("http", "websocket"):
        from apps.timing.worker.factory import embedded_worker_ensure_started

        embedded_worker_ensure_started()
    await router(scope, receive, send)
