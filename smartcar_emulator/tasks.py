"""The emulator's Celery tasks: Smartcar's side of webhooks. They are sent to a queue of their own (QUEUE), which the
emulator's worker consumes, so that the application's workers never take them (in the docker demo those do not have
the emulator installed)."""

from __future__ import annotations

from celery import shared_task

from smartcar_emulator import webhooks

QUEUE = "emulator"


@shared_task
def deliver_webhook_event(event_pk: int) -> None:
    """Send one webhook event if it is due on the emulator's clock; a failed attempt queues the next one."""
    webhooks.deliver(event_pk=event_pk)
