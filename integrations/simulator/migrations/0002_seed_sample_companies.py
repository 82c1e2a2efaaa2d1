from django.db import migrations
from django.utils import timezone


def seed(apps, schema_editor):
    from integrations.simulator.seed import seed_sample_companies

    seed_sample_companies(
        apps.get_model("qbo_simulator", "SimCompany"), apps.get_model("qbo_simulator", "SimEntity"), timezone.now()
    )


class Migration(migrations.Migration):
    dependencies = [("qbo_simulator", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
