from django.http import Http404
from django.shortcuts import render

from apps.events.models import Event


def live_board(request, event_id: int):
    """A minimal live timing page on the status socket; private events take ?code=ACCESS_CODE."""
    event = Event.objects.visible().filter(pk=event_id).first()
    if event is None:
        raise Http404("No such event.")
    name = "Live timing" if event.hide_name else event.name
    return render(request, "timing/live_board.html", {"event_id": event.pk, "event_name": name})
