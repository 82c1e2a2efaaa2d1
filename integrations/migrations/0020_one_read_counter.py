"""One counter of calls per realm and month (decision 0018): the limiter's `QuickBooksRealmPace` row. The legacy
per-connection read count goes; a month's reads it held beyond the pace row's are carried over first, so the
figure admins saw does not drop."""

from django.db import migrations


def carry_over(apps, schema_editor):
    Connection = apps.get_model("integrations", "QuickBooksConnection")
    Pace = apps.get_model("integrations", "QuickBooksRealmPace")
    for realm_id, month, reads in (
        Connection.objects.exclude(realm_id="")
        .exclude(reads_month="")
        .values_list("realm_id", "reads_month", "reads_this_month")
    ):
        pace, _ = Pace.objects.get_or_create(realm_id=realm_id)
        if pace.month != month and pace.month > month:
            continue  # the pace row counts a later month already
        if pace.month != month:
            pace.month, pace.reads, pace.writes = month, 0, 0
        if reads > pace.reads:
            pace.reads = reads
        pace.save(update_fields=["month", "reads", "writes"])


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0019_desktop_payments_tax_and_items"),
    ]

    operations = [
        migrations.RunPython(carry_over, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="quickbooksconnection",
            name="reads_month",
        ),
        migrations.RemoveField(
            model_name="quickbooksconnection",
            name="reads_this_month",
        ),
    ]
