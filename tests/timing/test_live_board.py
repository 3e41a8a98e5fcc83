import pytest

pytestmark = pytest.mark.django_db


def test_the_live_board_page_names_the_event_and_subscribes_to_it(client, event_a):
    page = client.get(f"/live/{event_a.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Alpha 8 Hours" in html
    assert f"const EVENT_ID = {event_a.pk};" in html and "SubscribeToEventV2WithCode" in html


def test_the_live_board_hides_a_hidden_name_and_404s_for_deleted_events(client, event_a):
    event_a.hide_name = True
    event_a.save()
    assert "Alpha 8 Hours" not in client.get(f"/live/{event_a.pk}/").content.decode()
    event_a.is_deleted = True
    event_a.save()
    assert client.get(f"/live/{event_a.pk}/").status_code == 404
