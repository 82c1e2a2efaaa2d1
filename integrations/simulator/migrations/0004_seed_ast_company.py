from django.db import migrations
from django.utils import timezone


def seed(apps, schema_editor):
    from integrations.simulator.seed import AST_REALM_ID, seed_sample_companies

    seed_sample_companies(
        apps.get_model("qbo_simulator", "SimCompany"),
        apps.get_model("qbo_simulator", "SimEntity"),
        timezone.now(),
        realm_ids={AST_REALM_ID},
    )


def unseed(apps, schema_editor):
    from integrations.simulator.seed import AST_REALM_ID

    apps.get_model("qbo_simulator", "SimCompany").objects.filter(realm_id=AST_REALM_ID).delete()


class Migration(migrations.Migration):
    dependencies = [("qbo_simulator", "0003_company_automated_sales_tax")]

    operations = [migrations.RunPython(seed, unseed)]
