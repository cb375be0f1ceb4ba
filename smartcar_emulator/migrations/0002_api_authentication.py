import django.db.models.deletion
from django.db import migrations, models


def forget_codes(apps, schema_editor):
    # A code now points at the grant Connect created; codes issued before had none, and live ten minutes anyway.
    apps.get_model("smartcar_emulator", "AuthorizationCode").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("smartcar_emulator", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="ApplicationToken",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("token_hash", models.CharField(max_length=64, unique=True)),
                ("hint", models.CharField(max_length=8)),
                ("api_client_id", models.CharField(max_length=200)),
                ("issued_at", models.DateTimeField()),
                ("expires_at", models.DateTimeField()),
            ],
        ),
        migrations.RunPython(forget_codes, migrations.RunPython.noop),
        migrations.RemoveField(model_name="authorizationcode", name="scopes"),
        migrations.RemoveField(model_name="authorizationcode", name="vehicles"),
        migrations.AddField(
            model_name="authorizationcode",
            name="grant",
            field=models.ForeignKey(
                default=None,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="codes",
                to="smartcar_emulator.grant",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="knobs",
            name="enabled_makes",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="requestlog",
            name="user_id",
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AlterField(
            model_name="requestlog",
            name="path",
            field=models.CharField(max_length=500),
        ),
    ]
