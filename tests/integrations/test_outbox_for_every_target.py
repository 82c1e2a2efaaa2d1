"""The outbox's outcome functions serve a target that pulls its work (QuickBooks Desktop's Web Connector) as well
as the Online worker (decision 0016): a rerun's follower can wait for the target instead of being dispatched to
the Online worker, and back-off / dead-letter take the target's wording."""

import pytest
from django.utils import timezone

from attune_qbo.billing import services as billing
from integrations.models import QuickBooksSyncLog, SyncStatus
from integrations.outbox.outcomes import finish, retry_or_give_up
from integrations.outbox.worker import _claim
from tests.integrations.conftest import finalize

pytestmark = pytest.mark.django_db


def _running(tenant, captured):
    invoice = finalize(tenant, captured)
    entry = QuickBooksSyncLog.objects.get(object_id=invoice.pk)
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now())
    running, _ = _claim(entry.pk)
    return invoice, running


def test_a_pull_target_keeps_the_follower_of_a_rerun_for_itself(tenant, connected, captured, dispatched):
    invoice, running = _running(tenant, captured)
    dispatched.clear()
    with captured(execute=True):
        billing.invoice_update(invoice=invoice, memo="changed mid-run")  # a rerun
    with captured(execute=True):
        finish(running, SyncStatus.SUCCEEDED, "Sent.", follower_message="Next run.", dispatch_follower=False)
    follower = QuickBooksSyncLog.objects.get(object_id=invoice.pk, status=SyncStatus.PENDING)
    assert follower.pk != running.pk and follower.message == "Next run."
    assert dispatched == []  # not queued for the Online worker


def test_the_online_follower_is_dispatched_as_before(tenant, connected, captured, dispatched):
    invoice, running = _running(tenant, captured)
    dispatched.clear()
    with captured(execute=True):
        billing.invoice_update(invoice=invoice, memo="changed mid-run")
    with captured(execute=True):
        finish(running, SyncStatus.SUCCEEDED, "Sent.")
    follower = QuickBooksSyncLog.objects.get(object_id=invoice.pk, status=SyncStatus.PENDING)
    assert follower.message == "Changed while the last push ran; sending the latest version."
    assert dispatched == [follower.pk]


def test_back_off_and_dead_letter_in_the_targets_words(tenant, connected, captured, settings):
    settings.QUICKBOOKS_PUSH_MAX_ATTEMPTS = 2
    _, running = _running(tenant, captured)
    outcome = retry_or_give_up(running, reason="the file is not open", code="0x80040408", again="next run")
    entry = QuickBooksSyncLog.objects.get(pk=running.pk)
    assert outcome == "retrying" and entry.status == SyncStatus.PENDING
    assert entry.message == "Attempt 1 failed (the file is not open); next run." and entry.next_attempt_at
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now())
    running, _ = _claim(entry.pk)
    assert retry_or_give_up(running, reason="the file is not open", code="0x80040408") == "dead"
    entry.refresh_from_db()
    assert entry.status == SyncStatus.DEAD and entry.error_code == "0x80040408"
    assert entry.message == "Gave up after 2 attempts: the file is not open"
