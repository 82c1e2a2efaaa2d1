"""The refresh sweep runs every 45 minutes on the django-q2 cluster (idempotent: update_or_create)."""
from django.db import migrations

NAME = "quickbooks-refresh-sweep"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=NAME,
        defaults={
            "func": "integrations.services.tasks.refresh_sweep",
            "schedule_type": "I",  # minutes
            "minutes": 45,
            "repeats": -1,
        },
    )


def delete_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0001_connections"),
        ("django_q", "0018_task_success_index"),
    ]
    operations = [migrations.RunPython(create_schedule, delete_schedule)]
