from __future__ import annotations

import pytest
from django.urls import reverse

from tests.helpers import query_of
from tests.vehicles.conftest import said, walk_to_callback
from tests.vehicles.token_proxy import HANG, HTML_502, TokenProxy
from vehicles.models import SmartcarConnection

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("failure", [HTML_502, HANG])
def test_a_failed_code_exchange_stores_nothing_and_is_not_retried(alice_client, smartcar, settings, failure):
    location = alice_client.get("/login")["Location"]
    callback = query_of(walk_to_callback(alice_client, location, username="driver@example.com"))
    settings.SMARTCAR_HTTP_TIMEOUT = 1.0

    with TokenProxy(settings.SMARTCAR_AUTH_ORIGIN, [failure]) as proxy:
        settings.SMARTCAR_AUTH_ORIGIN = proxy.url
        response = alice_client.get("/exchange", callback)

    assert response.url == reverse("vehicles:list")
    assert said(response, "Your car could not be connected")
    assert not SmartcarConnection.objects.exists()
    assert proxy.calls == [failure]
    assert "502 Bad Gateway" not in alice_client.get(response.url).content.decode()
