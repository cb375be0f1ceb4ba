"""The read-only "support" group: the view permission of every model in the project's own apps, and nothing else."""

from django.db import migrations

SUPPORT_GROUP = "support"
APP_LABELS = ("accounts", "vehicles")


def create_support_group(apps, schema_editor):
    using = schema_editor.connection.alias
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    view_permissions = []
    for label in APP_LABELS:
        for model in apps.get_app_config(label).get_models():
            opts = model._meta
            if "view" not in opts.default_permissions:
                continue
            # Django creates permissions after the last migration (post_migrate): on a fresh database they do not
            # exist yet. These are the rows it would create; it skips them later.
            content_type, _ = ContentType.objects.using(using).get_or_create(
                app_label=opts.app_label, model=opts.model_name
            )
            permission, _ = Permission.objects.using(using).get_or_create(
                content_type=content_type,
                codename=f"view_{opts.model_name}",
                defaults={"name": f"Can view {opts.verbose_name_raw}"},
            )
            view_permissions.append(permission)
    group, _ = Group.objects.using(using).get_or_create(name=SUPPORT_GROUP)
    group.permissions.set(view_permissions)


def remove_support_group(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name=SUPPORT_GROUP).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("vehicles", "0002_connection_aging_index"),
        ("accounts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_support_group, remove_support_group),
    ]
