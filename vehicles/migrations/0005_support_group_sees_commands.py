"""Let the support group view the vehicle commands added in 0004 (the group holds every view permission)."""

import importlib

from django.db import migrations

support_group = importlib.import_module("vehicles.migrations.0003_support_group")


class Migration(migrations.Migration):
    dependencies = [
        ("vehicles", "0004_vehicle_data_and_commands"),
    ]

    operations = [
        migrations.RunPython(support_group.create_support_group, migrations.RunPython.noop),
    ]
