"""The sync sweeper runs every minute: it re-enqueues due pushes whose task was lost (idempotent)."""
from django.db import migrations

NAME = "quickbooks-sync-sweep"


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name=NAME,
        defaults={"func": "integrations.services.tasks.sync_sweeper", "schedule_type": "I", "minutes": 1,
                  "repeats": -1},
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("integrations", "0004_sync_outbox_mappings_links"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(create_schedule, delete_schedule)]
