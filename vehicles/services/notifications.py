"""Notifications: the email that tells an owner a connection needs reconnecting, sent once each time it falls into
NEEDS_REAUTH, with a link per car that starts Connect for the car's make and comes back to the car."""

from __future__ import annotations

import logging
from urllib.parse import urljoin

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from vehicles.models import SmartcarConnection
from vehicles.presentation import reconnect_path

logger = logging.getLogger(__name__)


def queue_reauth_notice(*, connection_id: int) -> None:
    """Queue the owner's email about a connection that now needs reconnecting, once the transaction that says so
    commits (a rolled-back one says nothing)."""
    transaction.on_commit(lambda: _queue(connection_id))


def _queue(connection_id: int) -> None:
    from vehicles.tasks import notify_reauth  # the tasks call these services: imported where the task is sent

    try:
        notify_reauth.delay(connection_id)
    except KombuOperationalError as exc:
        # The vehicle pages carry the reconnect banner anyway; the email is the extra mile.
        logger.warning("could not queue a reconnect email connection_id=%s: %s", connection_id, type(exc).__name__)


def site_url(path: str) -> str:
    """An absolute address on this site, for an email: the redirect URI registered with Smartcar names the site."""
    return urljoin(settings.SMARTCAR_REDIRECT_URI, path)


def send_reauth_notice(*, connection_id: int) -> bool:
    """Email the owner that the connection needs reconnecting, unless it no longer does or they were already told
    since it last did; whether an email was sent. A failure to send is raised, with nothing recorded, for a retry."""
    with transaction.atomic():
        # Locked while sending: a duplicate task waits, then finds the notice recorded.
        connection = (
            SmartcarConnection.objects.select_for_update(of=("self",))
            .select_related("owner")
            .defer("access_token", "refresh_token")
            .filter(pk=connection_id, status=SmartcarConnection.Status.NEEDS_REAUTH, reauth_notified_at__isnull=True)
            .first()
        )
        if connection is None:
            return False
        vehicles = list(connection.vehicles.all())
        cars = [{"name": str(vehicle), "url": site_url(reconnect_path(vehicle))} for vehicle in vehicles]
        context = {
            "site_name": settings.SITE_NAME,
            "owner": connection.owner,
            "cars": cars,
            "makes": sorted({vehicle.make for vehicle in vehicles}),
            "connect_url": site_url(reconnect_path(None)),
        }
        subject = render_to_string("vehicles/email/reauth_subject.txt", context).strip()
        body = render_to_string("vehicles/email/reauth_body.txt", context)
        send_mail(subject, body, None, [connection.owner.email])
        connection.reauth_notified_at = timezone.now()
        connection.save(update_fields=["reauth_notified_at"])
    logger.info("reconnect email sent connection_id=%s vehicles=%d", connection_id, len(cars))
    return True
