"""Property-based fuzzing: whatever arrives in a query string or a form, the answer is never a 500, and input
that is refused changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from accounts.models import User
from vehicles.models import PendingConnect, SmartcarConnection, Vehicle, VehicleCommand

pytestmark = pytest.mark.django_db

FUZZ = hypothesis_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
# Text as hostile as a query string or form can carry it: control characters, surrogates' neighbours, long runs.
anything = st.one_of(st.text(max_size=300), st.sampled_from(["", " ", "\x00", "%00", "../../", "<script>", "é" * 50]))


def state_of_the_world() -> tuple:
    users = tuple(User.objects.order_by("pk").values_list("pk", "email", "password", "first_name", "unit_system"))
    return (
        users,
        SmartcarConnection.objects.count(),
        Vehicle.objects.count(),
        VehicleCommand.objects.count(),
        tuple(PendingConnect.objects.values_list("pk", "consumed_at")),
    )


@pytest.fixture
def offline_smartcar(settings, unused_port):
    """Any call that slipped out would fail at once instead of reaching the internet."""
    for name in ("CONNECT", "API", "VEHICLE_API_V3"):
        setattr(settings, f"SMARTCAR_{name}_ORIGIN", f"http://127.0.0.1:{unused_port}")
    settings.SMARTCAR_AUTH_ORIGIN = f"http://127.0.0.1:{unused_port}/oauth/token"


@FUZZ
@given(
    params=st.dictionaries(
        st.sampled_from(["code", "state", "error", "error_description", "make", "model", "vin", "next", "x"]),
        anything,
        max_size=6,
    )
)
def test_exchange_survives_any_query_string_and_changes_nothing(alice_client, offline_smartcar, params):
    # A real pending Connect exists, so a forged state has something to be confused with.
    alice_client.get("/login")
    before = state_of_the_world()

    response = alice_client.get("/exchange", params)

    assert response.status_code == 302
    assert response.url == reverse("vehicles:list")
    assert state_of_the_world() == before


FORMS = [
    # (URL name, fields, signed in)
    ("accounts:signup", ["email", "password1", "password2", "next"], False),
    ("accounts:login", ["username", "password", "next"], False),
    ("accounts:password_reset", ["email"], False),
    ("accounts:profile", ["first_name", "last_name", "unit_system"], True),
    ("accounts:password_change", ["old_password", "new_password1", "new_password2"], True),
    ("accounts:delete", ["password"], True),
]


@pytest.mark.parametrize(("name", "fields", "signed_in"), FORMS, ids=[form[0] for form in FORMS])
def test_every_form_survives_any_input_and_refused_input_changes_nothing(
    alice, offline_smartcar, name, fields, signed_in
):
    @FUZZ
    @given(data=st.fixed_dictionaries({}, optional=dict.fromkeys([*fields, "extra"], anything)))
    def submit(data: dict) -> None:
        client = Client()
        if signed_in:
            client.force_login(alice)
        before = state_of_the_world()

        response = client.post(reverse(name), data)

        # 429: sign-in throttling stepped in after repeated failures, which is also a refusal.
        assert response.status_code in (200, 302, 429), response.status_code
        if response.status_code == 200:
            # Refused: the form is shown again with its errors.
            assert response.context["form"].errors
        if response.status_code != 302:
            assert state_of_the_world() == before

    submit()
