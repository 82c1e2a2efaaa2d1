"""Expired connect-flow states are purged every hour on the django-q2 cluster (idempotent: update_or_create)."""
from django.db import migrations

NAME = "quickbooks-oauth-state-purge"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME,
        defaults={
            "func": "integrations.services.connections.connection_states_purge",
            "schedule_type": "H",  # hourly
            "repeats": -1,
        },
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0008_mapping_page_activity"),
        ("django_q", "0018_task_success_index"),
    ]
    operations = [migrations.RunPython(create_schedule, delete_schedule)]
