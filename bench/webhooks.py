"""Benchmark: answering Intuit's webhook deliveries (prints figures; not a test).

    .venv/bin/python bench/webhooks.py                 # 300 deliveries of 1, 10 and 100 events
    .venv/bin/python bench/webhooks.py --deliveries 100

In-process (Django's test client, a throwaway SQLite test database, the real view, signature check, storage
and the django-q2 enqueue on commit), so the figures are our own answer time, without the network. The answer
stores the delivery as it came (one INSERT), so it does not grow with the number of events; the second table
is the worker's side: unpacking the deliveries into events. Target
(issue #10): p99 ≤ 50 ms per delivery; Intuit wants 200 within 3 s. Applying the events (reading payments from
QuickBooks) happens later in the worker and is not measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
URL = "/api/v1/integrations/quickbooks/webhooks"
REALM = "9130000000000001"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deliveries", type=int, default=300)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    from config import keys
    from integrations.models import QuickBooksConnection
    from integrations.quickbooks.webhooks import signature_for
    from tests.factories import CompanyFactory

    company = CompanyFactory(name="Bench")
    QuickBooksConnection.objects.create(company=company, status="connected", realm_id=REALM, environment="sandbox")
    token = keys.quickbooks_webhook_verifier_token()
    client = Client()
    print(f"{'events/delivery':>16} {'deliveries':>10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'events/s':>9}")
    from integrations.services.events import deliveries_unpack

    def _unpack_all() -> tuple[int, float]:
        started, total = time.perf_counter(), 0
        while True:
            stored, _ = deliveries_unpack(limit=100)
            if not stored:
                return total, time.perf_counter() - started
            total += stored

    unpack_times = []
    for size in (1, 10, 100):
        times = []
        for _ in range(args.deliveries):
            events = [
                {
                    "specversion": "1.0",
                    "id": str(uuid.uuid4()),
                    "source": "intuit.bench",
                    "type": "qbo.payment.created.v1",
                    "datacontenttype": "application/json",
                    "time": "2026-11-29T12:00:00.000Z",
                    "intuitentityid": str(n),
                    "intuitaccountid": REALM,
                    "data": {},
                }
                for n in range(size)
            ]
            body = json.dumps(events).encode()
            headers = {"intuit-signature": signature_for(body, token)}
            started = time.perf_counter()
            response = client.generic("POST", URL, body, content_type="application/cloudevents+json", headers=headers)
            times.append(time.perf_counter() - started)
            assert response.status_code == 200, response.content
        times.sort()
        p50 = statistics.median(times) * 1000
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))] * 1000
        rate = len(times) / sum(times)
        print(f"{size:>16} {len(times):>10} {rate:>8.0f} {p50:>8.1f} {p99:>8.1f} {rate * size:>9.0f}")
        unpack_times.append((size, *_unpack_all()))
    print()
    print("unpacking in the worker (deliveries → events, unique per realm):")
    print(f"{'events/delivery':>16} {'events':>8} {'seconds':>8} {'events/s':>9}")
    for size, events, seconds in unpack_times:
        print(f"{size:>16} {events:>8} {seconds:>8.2f} {events / seconds:>9.0f}")
    connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
