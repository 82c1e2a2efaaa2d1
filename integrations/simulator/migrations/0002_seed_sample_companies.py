from django.db import migrations
from django.utils import timezone


def seed(apps, schema_editor):
    from integrations.simulator.seed import CA_REALM_ID, GB_REALM_ID, US_REALM_ID, seed_sample_companies

    # The first three companies; the AST company comes with 0004 (after its column exists).
    seed_sample_companies(
        apps.get_model("qbo_simulator", "SimCompany"),
        apps.get_model("qbo_simulator", "SimEntity"),
        timezone.now(),
        realm_ids={US_REALM_ID, CA_REALM_ID, GB_REALM_ID},
    )


class Migration(migrations.Migration):
    dependencies = [("qbo_simulator", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
