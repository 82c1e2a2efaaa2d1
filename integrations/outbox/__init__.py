"""The outbox shared by the sync targets (QuickBooks Online and QuickBooks Desktop): one `QuickBooksSyncLog` row
per pending change, with attempts, back-off and a dead-letter (docs/decisions/0016).

* `enqueue`  — upsert the live entry in the change's transaction, dispatch it after commit; what a (re)connect,
  "Send now" and "Send them" queue.
* `worker`   — claim due entries round robin by realm, run each on its target (`_execute`: the seam), the one
  waiter, the sweeper.
* `outcomes` — record an outcome (`finish`), retry with back-off or give up (`retry_later`,
  `retry_or_give_up`), wait for a reconnect.

Nothing here builds a payload or calls QuickBooks: a target's runner does (Online:
`integrations.quickbooks.online.runner.online_run`; Desktop: the Web Connector session claims its own rows).
"""
