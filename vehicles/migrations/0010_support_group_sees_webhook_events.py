"""Let the support group view the webhook events added in 0009 (the group holds every view permission)."""

import importlib

from django.db import migrations

support_group = importlib.import_module("vehicles.migrations.0003_support_group")


class Migration(migrations.Migration):
    dependencies = [
        ("vehicles", "0009_application_auth_and_webhooks"),
    ]

    operations = [
        migrations.RunPython(support_group.create_support_group, migrations.RunPython.noop),
    ]
