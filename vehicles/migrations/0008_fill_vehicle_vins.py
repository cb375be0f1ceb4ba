"""The VIN column filled from the signals already stored, as every fetch fills it from now on."""

from django.db import migrations

VIN_SIGNAL = "vehicleidentification-vin"


def fill_vins(apps, schema_editor):
    Vehicle = apps.get_model("vehicles", "Vehicle")
    vehicles = Vehicle.objects.using(schema_editor.connection.alias)
    found = []
    for vehicle in vehicles.filter(data__signals__has_key=VIN_SIGNAL).only("data").iterator():
        signal = vehicle.data["signals"][VIN_SIGNAL]
        value = (signal.get("body") or {}).get("value")
        # As a fetch does: a VIN has 17 characters (ISO 3779), a longer value is not one.
        if signal.get("status") == "SUCCESS" and isinstance(value, str) and 0 < len(value) <= 17:
            vehicle.vin = value
            found.append(vehicle)
    vehicles.bulk_update(found, ["vin"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("vehicles", "0007_vehicle_vin"),
    ]

    operations = [
        migrations.RunPython(fill_vins, migrations.RunPython.noop),
    ]
