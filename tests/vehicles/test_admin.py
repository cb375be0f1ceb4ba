from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from datetime import timedelta
from unittest import mock

import pytest
from django.apps import apps as django_apps
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Group, Permission
from django.db import connection as db_connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import OperationalError

from accounts.models import User
from smartcar_emulator.models import EmulatedVehicle
from tests.factories import SmartcarConnectionFactory, UserFactory, VehicleFactory
from tests.helpers import SUPPORT_MIGRATION, take_queued_tasks
from tests.vehicles.conftest import fetched
from vehicles import smartcar_client
from vehicles.models import SmartcarConnection, Vehicle
from vehicles.tasks import refresh_connection

vin_migration = importlib.import_module("vehicles.migrations.0008_fill_vehicle_vins")

CONNECTIONS = "admin:vehicles_smartcarconnection_changelist"
VEHICLES = "admin:vehicles_vehicle_changelist"
USERS = "admin:accounts_user_changelist"


def admin_url(obj, view: str) -> str:
    return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_{view}", args=[quote(obj.pk)])


def token_slices(tokens: set[str], width: int = 12) -> set[str]:
    """Every token, and every `width`-character piece of one: a page may show no part of a token."""
    return tokens | {token[i : i + width] for token in tokens for i in range(len(token) - width + 1)}


def assert_shows_no_token(response, tokens: set[str]) -> None:
    html = response.content.decode()
    assert not any(piece in html for piece in token_slices(tokens)), f"{response.request['PATH_INFO']} shows a token"


def action(client: Client, name: str, connections: list[SmartcarConnection], **extra):
    return client.post(reverse(CONNECTIONS), {"action": name, "_selected_action": [c.pk for c in connections], **extra})


def take_queued_refreshes() -> list[tuple[list, dict]]:
    """The refresh tasks waiting in Redis, as (args, kwargs), taken off the queue."""
    return [(task.args, task.kwargs) for task in take_queued_tasks() if task.name == refresh_connection.name]


def reaches_vehicle(access_token: str, vehicle_id: str) -> bool:
    try:
        smartcar_client.get_attributes(access_token=access_token, vehicle_id=vehicle_id)
    except smartcar_client.AccessTokenRejected:
        return False
    return True


@pytest.fixture
def empty_queue() -> None:
    take_queued_refreshes()


# --- Tokens never show ------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_no_admin_page_about_a_real_connection_shows_any_part_of_a_token(
    admin_client, alice, alice_connection, empty_queue
):
    connection = alice_connection
    vehicles = list(connection.vehicles.all())
    tokens = {connection.access_token, connection.refresh_token}
    pages = []

    def visit(url: str, status: int = 200, **query):
        response = admin_client.get(url, query)
        assert response.status_code == status, url
        pages.append(response)

    visit(reverse("admin:index"))
    visit(reverse(CONNECTIONS))
    visit(reverse(CONNECTIONS), q=vehicles[0].smartcar_vehicle_id)
    visit(reverse(CONNECTIONS), health="expiring")
    visit(admin_url(connection, "change"))
    visit(admin_url(connection, "delete"), status=403)
    visit(reverse(VEHICLES))
    for vehicle in vehicles:
        visit(admin_url(vehicle, "change"))
        visit(admin_url(vehicle, "history"))
        visit(admin_url(vehicle, "delete"), status=403)
    visit(reverse(USERS))
    visit(admin_url(alice, "change"))
    visit(admin_url(alice, "delete"))

    refreshed = admin_client.get(action(admin_client, "refresh_now", [connection]).url)
    # A worker runs what was queued: the connection now has a second token pair, which must not show either.
    for args, kwargs in take_queued_refreshes():
        refresh_connection.apply(args=args, kwargs=kwargs)
    connection.refresh_from_db()
    tokens |= {connection.access_token, connection.refresh_token}
    visit(admin_url(connection, "history"))
    visit(admin_url(connection, "change"))
    visit(admin_url(alice, "change"))
    confirmation = action(admin_client, "disconnect_connections", [connection])
    disconnected = admin_client.get(action(admin_client, "disconnect_connections", [connection], post="yes").url)
    visit(reverse("admin:index"))

    assert len(tokens) == 4
    assert "Queued a refresh for 1 connection(s)." in refreshed.content.decode()
    assert "Queued a refresh." in pages[-4].content.decode()  # the connection's history
    assert confirmation.status_code == 200
    assert "Disconnected 1 connection(s)." in disconnected.content.decode()
    pages += [refreshed, confirmation, disconnected]
    for page in pages:
        assert_shows_no_token(page, tokens)
    history = " ".join(f"{e.object_repr} {e.change_message}" for e in LogEntry.objects.all())
    assert not any(piece in history for piece in token_slices(tokens))


@pytest.mark.django_db(transaction=True)
def test_the_support_group_sees_every_page_without_a_token_but_cannot_change_anything(
    support_client, alice, alice_connection, empty_queue
):
    connection = alice_connection
    vehicle = connection.vehicles.first()
    tokens = {connection.access_token, connection.refresh_token}

    viewable = [
        reverse("admin:index"),
        reverse(CONNECTIONS),
        admin_url(connection, "change"),
        admin_url(connection, "history"),
        reverse(VEHICLES),
        admin_url(vehicle, "change"),
        reverse(USERS),
        admin_url(alice, "change"),
        admin_url(alice, "history"),
    ]
    for url in viewable:
        page = support_client.get(url)
        assert page.status_code == 200, url
        assert_shows_no_token(page, tokens)
    connections_page = support_client.get(reverse(CONNECTIONS)).content.decode()
    assert 'name="action"' not in connections_page
    assert 'type="submit" value="Save"' not in support_client.get(admin_url(alice, "change")).content.decode()

    refused = [
        ("post", admin_url(connection, "change"), {"status": "revoked"}),
        ("post", admin_url(alice, "change"), {"email": "mallory@example.com", "is_superuser": "on"}),
        ("get", admin_url(connection, "delete"), {}),
        ("get", admin_url(vehicle, "delete"), {}),
        ("get", admin_url(alice, "delete"), {}),
        ("post", reverse(CONNECTIONS), {"action": "refresh_now", "_selected_action": [connection.pk]}),
        ("post", reverse(CONNECTIONS), {"action": "disconnect_connections", "_selected_action": [connection.pk]}),
        (
            "post",
            reverse(CONNECTIONS),
            {"action": "disconnect_connections", "_selected_action": [connection.pk], "post": "yes"},
        ),
    ]
    for method, url, data in refused:
        response = getattr(support_client, method)(url, data)
        assert response.status_code == 403, (method, url, data)
        assert_shows_no_token(response, tokens)

    assert take_queued_refreshes() == []
    assert SmartcarConnection.objects.get(pk=connection.pk).status == SmartcarConnection.Status.ACTIVE
    assert User.objects.get(pk=alice.pk).email == "alice@example.com"
    assert not LogEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_superuser_has_no_token_field_to_edit_and_a_crafted_post_changes_nothing(admin_client, alice_connection):
    connection = alice_connection
    before = (connection.access_token, connection.refresh_token, connection.token_version)

    page = admin_client.get(admin_url(connection, "change"))
    crafted = admin_client.post(
        admin_url(connection, "change"), {"access_token": "attacker-access", "refresh_token": "attacker-refresh"}
    )
    added = admin_client.post(
        reverse("admin:vehicles_smartcarconnection_add"),
        {"owner": connection.owner_id, "smartcar_user_id": "x", "access_token": "a", "refresh_token": "r"},
    )

    assert not {"access_token", "refresh_token"} & set(page.context["adminform"].form.fields)
    assert 'name="access_token"' not in page.content.decode()
    assert crafted.status_code == 403
    assert added.status_code == 403
    connection.refresh_from_db()
    assert (connection.access_token, connection.refresh_token, connection.token_version) == before
    assert SmartcarConnection.objects.count() == 1


# --- Actions ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_refresh_now_queues_one_refresh_pinned_to_the_version_it_saw(admin_client, alice_connection, empty_queue):
    connection = alice_connection
    version = connection.token_version

    response = action(admin_client, "refresh_now", [connection])

    assert "Queued a refresh for 1 connection(s)." in admin_client.get(response.url).content.decode()
    queued = take_queued_refreshes()
    assert queued == [([connection.pk], {"if_version": version})]
    assert LogEntry.objects.get(object_id=str(connection.pk), action_flag=CHANGE).change_message == "Queued a refresh."
    # Delivered, it refreshes at Smartcar; delivered twice, the second finds a newer version and does nothing.
    args, kwargs = queued[0]
    refresh_connection.apply(args=args, kwargs=kwargs)
    connection.refresh_from_db()
    assert connection.token_version == version + 1
    refreshed_token = connection.access_token
    refresh_connection.apply(args=args, kwargs=kwargs)
    connection.refresh_from_db()
    assert (connection.token_version, connection.access_token) == (version + 1, refreshed_token)


def test_refresh_now_skips_connections_that_are_not_active(
    admin_client, empty_queue, django_capture_on_commit_callbacks
):
    active = SmartcarConnectionFactory()
    dead = SmartcarConnectionFactory(status=SmartcarConnection.Status.NEEDS_REAUTH)

    with django_capture_on_commit_callbacks(execute=True):
        response = action(admin_client, "refresh_now", [active, dead])

    page = admin_client.get(response.url).content.decode()
    assert "Queued a refresh for 1 connection(s)." in page
    assert "Skipped 1 connection(s) that are not active" in page
    assert take_queued_refreshes() == [([active.pk], {"if_version": active.token_version})]


def test_refresh_now_says_so_when_the_task_queue_is_down(admin_client):
    connection = SmartcarConnectionFactory()
    unreachable = mock.create_autospec(refresh_connection, instance=True)
    unreachable.delay_on_commit.side_effect = OperationalError("Error 111 connecting to 127.0.0.1:6379.")

    with mock.patch("vehicles.admin.refresh_connection", unreachable):
        response = action(admin_client, "refresh_now", [connection])

    assert response.status_code == 302
    page = admin_client.get(response.url).content.decode()
    assert "The task queue cannot be reached: queued a refresh for 0 of 1 connection(s)." in page
    assert not LogEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_disconnect_first_lists_what_will_be_revoked_and_changes_nothing(admin_client, alice, alice_connection):
    response = action(admin_client, "disconnect_connections", [alice_connection])

    page = response.content.decode()
    assert response.status_code == 200
    assert alice.email in page
    assert alice_connection.smartcar_user_id in page
    for vehicle in alice_connection.vehicles.all():
        assert str(vehicle) in page
        assert vehicle.smartcar_vehicle_id in page
    assert SmartcarConnection.objects.filter(pk=alice_connection.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_disconnect_revokes_at_smartcar_then_removes_the_connection(admin_client, alice_connection):
    token = alice_connection.access_token
    vehicle_ids = list(alice_connection.vehicles.values_list("smartcar_vehicle_id", flat=True))
    assert all(reaches_vehicle(token, vehicle_id) for vehicle_id in vehicle_ids)

    response = action(admin_client, "disconnect_connections", [alice_connection], post="yes")

    assert "Disconnected 1 connection(s)." in admin_client.get(response.url).content.decode()
    assert not SmartcarConnection.objects.exists()
    assert not Vehicle.objects.exists()
    assert not any(reaches_vehicle(token, vehicle_id) for vehicle_id in vehicle_ids)
    assert LogEntry.objects.get(action_flag=DELETION).object_repr == str(alice_connection)


@pytest.mark.django_db(transaction=True)
def test_disconnect_reports_a_connection_smartcar_cannot_revoke_and_keeps_it(
    admin_client, alice_connection, settings, unused_port
):
    settings.SMARTCAR_API_ORIGIN = f"http://127.0.0.1:{unused_port}"

    response = action(admin_client, "disconnect_connections", [alice_connection], post="yes")

    page = admin_client.get(response.url).content.decode()
    assert f"{alice_connection} is still connected:" in page
    assert "Disconnected" not in page
    assert SmartcarConnection.objects.filter(pk=alice_connection.pk).exists()
    assert alice_connection.vehicles.exists()


# --- What the pages show ----------------------------------------------------------------------------------------


def test_connection_list_shows_token_times_health_and_vehicle_count(admin_client):
    connection = SmartcarConnectionFactory(
        access_expires_at=timezone.now() - timedelta(hours=3),
        refresh_expires_at=timezone.now() + timedelta(days=50),
        last_error="Transient: Smartcar error status=503 type=SERVER code=None",
    )
    VehicleFactory.create_batch(3, connection=connection)

    page = admin_client.get(reverse(CONNECTIONS)).content.decode()

    assert "expired 3\xa0hours ago" in page
    assert "1\xa0week, 3\xa0days" in page  # refresh token age: issued 60 - 50 days ago
    assert "in 1\xa0month" in page
    assert "status=503" in page
    assert '<td class="field-vehicle_count">3</td>' in page
    assert f"Smartcar account of {connection.owner.email}" in page


def test_health_filter_finds_connections_expiring_soon_and_those_whose_refresh_fails(admin_client, settings):
    settings.TOKEN_REFRESH_LEAD_TIME_MINUTES = 30
    now = timezone.now()
    expiring = SmartcarConnectionFactory(access_expires_at=now + timedelta(minutes=10))
    aging = SmartcarConnectionFactory(refresh_expires_at=now + timedelta(days=5))
    failing = SmartcarConnectionFactory(last_error="Transient: Smartcar unreachable: ConnectionError")
    healthy = SmartcarConnectionFactory()

    def listed(**query) -> set[int]:
        return {c.pk for c in admin_client.get(reverse(CONNECTIONS), query).context["cl"].result_list}

    assert listed(health="expiring") == {expiring.pk, aging.pk}
    assert listed(health="failing") == {failing.pk}
    assert listed() == {expiring.pk, aging.pk, failing.pk, healthy.pk}


def vin_at_emulator(vehicle: Vehicle) -> str:
    return EmulatedVehicle.objects.get(vehicle_id=vehicle.smartcar_vehicle_id).vin


@pytest.mark.django_db(transaction=True)
def test_vin_search_finds_a_car_by_the_last_five_characters_of_the_vin_it_reported(admin_client, fetched_vehicle):
    vin = vin_at_emulator(fetched_vehicle)
    VehicleFactory()

    for term in (vin[-5:], vin[-5:].lower(), vin):
        response = admin_client.get(reverse(VEHICLES), {"q": term})
        assert [v.pk for v in response.context["cl"].result_list] == [fetched_vehicle.pk], term
    assert f'<td class="field-vin">{vin}</td>' in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_vin_shows_in_the_vehicle_rows_of_the_user_and_connection_pages(admin_client, fetched_vehicle):
    vin = vin_at_emulator(fetched_vehicle)

    for obj in (fetched_vehicle.owner, fetched_vehicle.connection):
        page = admin_client.get(admin_url(obj, "change")).content.decode()
        assert re.search(rf'<td class="field-vin">\s*<p>{vin}</p>', page), obj


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_vin_of_data_fetched_before_the_column(admin_client, fetched_vehicle):
    vin = vin_at_emulator(fetched_vehicle)
    Vehicle.objects.update(vin="")
    never_fetched = set(Vehicle.objects.exclude(pk=fetched_vehicle.pk).values_list("pk", flat=True))
    assert never_fetched

    vin_migration.fill_vins(django_apps, db_connection.schema_editor())

    vins = dict(Vehicle.objects.values_list("pk", "vin"))
    assert vins == {fetched_vehicle.pk: vin} | dict.fromkeys(never_fetched, "")
    found = admin_client.get(reverse(VEHICLES), {"q": vin[-5:]}).context["cl"].result_list
    assert [v.pk for v in found] == [fetched_vehicle.pk]


@pytest.mark.django_db(transaction=True)
def test_connection_search_reaches_owner_ids_and_vehicles_and_counts_stay_right(admin_client, fetched_vehicle):
    connection = fetched_vehicle.connection
    vehicle_count = connection.vehicles.count()
    SmartcarConnectionFactory()
    terms = (
        "alice@",
        connection.smartcar_user_id,
        fetched_vehicle.smartcar_vehicle_id,
        fetched_vehicle.make.lower(),
        fetched_vehicle.model.lower(),
        vin_at_emulator(fetched_vehicle)[-5:],
    )

    for term in terms:
        rows = admin_client.get(reverse(CONNECTIONS), {"q": term}).context["cl"].result_list
        assert [(row.pk, row.vehicle_count) for row in rows] == [(connection.pk, vehicle_count)], term


@pytest.mark.django_db(transaction=True)
def test_vehicle_page_shows_its_data_escaped_and_links_to_its_connection_and_owner(admin_client, connected_vehicle):
    # What a car maker's system could put in a value, served by the emulator through the real client.
    EmulatedVehicle.objects.filter(vehicle_id=connected_vehicle.smartcar_vehicle_id).update(vin="<b>VIN</b>1")
    vehicle = fetched(connected_vehicle)
    odometer = vehicle.data["signals"]["odometer-traveleddistance"]["body"]

    page = admin_client.get(admin_url(vehicle, "change")).content.decode()
    listed = admin_client.get(reverse(VEHICLES)).content.decode()

    # The car's facts as its owner reads them (tests/vehicles/test_admin_support.py has the rest).
    assert f'<tr><th scope="row">Odometer</th><td>{odometer["value"]:,.0f} km</td>' in page
    assert '<tr><th scope="row">VIN</th><td>&lt;b&gt;VIN&lt;/b&gt;1</td>' in page
    assert "<b>VIN</b>" not in page
    assert "&lt;b&gt;VIN&lt;/b&gt;1" in listed
    assert "<b>VIN</b>" not in listed
    assert admin_url(vehicle.connection, "change") in page
    assert admin_url(vehicle.owner, "change") in page
    connection_page = admin_client.get(admin_url(vehicle.connection, "change")).content.decode()
    assert admin_url(vehicle, "change") in connection_page


def test_vehicle_list_filters_by_make_year_and_connection_status(admin_client):
    kept = VehicleFactory(make="TESLA", year=2021)
    VehicleFactory(make="TESLA", year=2019)
    VehicleFactory(make="BMW", year=2021)
    SmartcarConnection.objects.filter(pk=kept.connection_id).update(status=SmartcarConnection.Status.NEEDS_REAUTH)

    response = admin_client.get(
        reverse(VEHICLES), {"make": "TESLA", "year": "2021", "connection__status__exact": "needs_reauth"}
    )

    assert [v.pk for v in response.context["cl"].result_list] == [kept.pk]
    assert f'<a href="{admin_url(kept.connection, "change")}">Needs reconnecting</a>' in response.content.decode()


def test_user_page_lists_connections_and_vehicles_read_only_with_links(admin_client):
    vehicle = VehicleFactory()
    user = vehicle.owner

    response = admin_client.get(admin_url(user, "change"))

    page = response.content.decode()
    assert admin_url(vehicle.connection, "change") in page
    assert admin_url(vehicle, "change") in page
    inlines = response.context["inline_admin_formsets"]
    assert [inline.formset.prefix for inline in inlines] == ["smartcar_connections", "vehicles"]
    for inline in inlines:
        assert (inline.has_add_permission, inline.has_change_permission, inline.has_delete_permission) == (
            False,
            False,
            False,
        )
        # Only the hidden row id and parent link: nothing a POST could change.
        assert [set(form.fields) for form in inline.formset.forms] == [{"id", "owner"}]


def test_a_user_with_connections_can_still_be_edited_and_the_connections_stay_as_they_were(admin_client):
    vehicle = VehicleFactory()
    user, connection = vehicle.owner, vehicle.connection
    page = admin_client.get(admin_url(user, "change"))
    data = {"email": user.email, "first_name": "Dana", "last_name": "", "is_active": "on"}
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        data |= {f"{formset.prefix}-{key}": value for key, value in formset.management_form.initial.items()}
        for form in formset.forms:
            # What a crafted POST could add to each row: none of it is a field of the form.
            data |= {f"{form.prefix}-id": form.instance.pk, f"{form.prefix}-owner": user.pk}
            data |= {f"{form.prefix}-status": "revoked", f"{form.prefix}-make": "HACKED"}
            data |= {f"{form.prefix}-access_token": "attacker-access"}
    token = connection.access_token

    response = admin_client.post(admin_url(user, "change"), data)

    assert response.status_code == 302, response.context and response.context["errors"]
    assert User.objects.get(pk=user.pk).first_name == "Dana"
    connection.refresh_from_db()
    assert (connection.status, connection.access_token) == (SmartcarConnection.Status.ACTIVE, token)
    assert Vehicle.objects.get(pk=vehicle.pk).make == vehicle.make


def test_a_user_with_a_connection_cannot_be_deleted_until_it_is_disconnected(admin_client):
    connection = SmartcarConnectionFactory()
    user = connection.owner

    page = admin_client.get(admin_url(user, "delete")).content.decode()
    admin_client.post(admin_url(user, "delete"), {"post": "yes"})

    assert "protected related objects" in page
    assert admin_url(connection, "change") in page
    assert "disconnect it first" in page
    assert User.objects.filter(pk=user.pk).exists()
    connection.delete()
    admin_client.post(admin_url(user, "delete"), {"post": "yes"})
    assert not User.objects.filter(pk=user.pk).exists()


# --- Query counts -----------------------------------------------------------------------------------------------


def one_connection_with_two_vehicles() -> None:
    VehicleFactory.create_batch(2, connection=SmartcarConnectionFactory())


@pytest.mark.parametrize(
    ("url_name", "add_row"),
    [
        (CONNECTIONS, one_connection_with_two_vehicles),
        (VEHICLES, VehicleFactory),
        (USERS, UserFactory),
    ],
)
def test_changelist_queries_do_not_grow_with_rows(admin_client, admin_user, url_name: str, add_row: Callable):
    url = reverse(url_name)
    if url_name != USERS:  # the signed-in admin is already the users list's first row
        add_row()
    admin_client.get(url)  # sessions and content types are cached on first use

    with CaptureQueriesContext(db_connection) as one_row:
        one = admin_client.get(url)
    for _ in range(49):
        add_row()
    with CaptureQueriesContext(db_connection) as fifty_rows:
        fifty = admin_client.get(url)

    assert (one.context["cl"].result_count, fifty.context["cl"].result_count) == (1, 50)
    assert len(one_row) == len(fifty_rows), f"{len(one_row)} queries for 1 row, {len(fifty_rows)} for 50"


def test_user_page_queries_do_not_grow_with_connections_and_vehicles(admin_client):
    user = UserFactory()
    VehicleFactory(connection=SmartcarConnectionFactory(owner=user))
    url = admin_url(user, "change")
    admin_client.get(url)

    with CaptureQueriesContext(db_connection) as one_each:
        admin_client.get(url)
    for _ in range(49):
        VehicleFactory(connection=SmartcarConnectionFactory(owner=user))
    with CaptureQueriesContext(db_connection) as fifty_each:
        admin_client.get(url)

    assert len(one_each) == len(fifty_each), f"{len(one_each)} queries for 1 connection, {len(fifty_each)} for 50"


# --- The support group ------------------------------------------------------------------------------------------


def test_the_support_group_holds_every_view_permission_of_the_project_and_nothing_else(support_group):
    project_models = [
        *django_apps.get_app_config("accounts").get_models(),
        *django_apps.get_app_config("vehicles").get_models(),
    ]
    # Models with no view permission at all (the application token) are seen by nobody.
    expected = {
        f"view_{model._meta.model_name}" for model in project_models if "view" in model._meta.default_permissions
    }

    granted = set(support_group.permissions.values_list("codename", flat=True))

    assert granted == expected
    assert {"view_user", "view_smartcarconnection", "view_vehicle", "view_webhookevent"} <= granted
    assert "view_applicationtoken" not in granted


def test_the_support_group_migration_can_be_reversed_and_run_again(support_group):
    schema_editor = db_connection.schema_editor()
    granted = set(support_group.permissions.all())

    SUPPORT_MIGRATION.remove_support_group(django_apps, schema_editor)
    assert not Group.objects.filter(name="support").exists()
    SUPPORT_MIGRATION.create_support_group(django_apps, schema_editor)
    SUPPORT_MIGRATION.create_support_group(django_apps, schema_editor)

    group = Group.objects.get(name="support")
    assert set(group.permissions.all()) == granted
    assert Permission.objects.filter(codename="view_vehicle").count() == 1
