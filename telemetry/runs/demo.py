"""Demo mode's trigger.dev: runs consistent with the demo records, answered in-process.

With no ``REDIS_URL`` and no ``TRIGGER_SECRET_KEY`` the app shows run state
anyway, from ``demo_standin``: the API stand-in (``standin.py``) serving one
run per demo record's ``runId``, created shortly before the record's time.
The mix is what a newcomer should see: mostly ``COMPLETED``, some failed with
real-looking errors, a few executing or queued (only among recent records: a
run of last week is not still running), and about 1 in 100 runs of another
environment (the API answers 404: "not in this environment").

Everything follows from the run ID (a stable hash), so the same demo data
always gets the same states.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from .standin import TriggerStandIn, make_run

DEMO_KEY = "tr_dev_run_lookup_demo"
DEMO_API_URL = "https://api.trigger.demo.invalid"
DEMO_BURST = 20_000

TASKS: dict[str, tuple[str, ...]] = {
    "payment": ("attempt-billing-run", "stripe-payment-intent-succeeded"),
    "invoice": ("invoice-finalize", "send-invoice-email"),
    "billing_run": ("attempt-billing-run",),
    "billing_period": ("close-billing-period",),
    "subscription": ("subscription-renewal", "subscription-cancel-at-period-end"),
    "organization": ("provision-organization",),
    "webhook": ("stripe-webhook-received", "deliver-webhook"),
    "customer": ("sync-customer-to-crm",),
    "notification": ("send-notification-email",),
}
FALLBACK_TASK = "process-entity"

# Real-looking failures; some carry Markdown and HTML characters, which the app
# must show as exact text.
ERRORS: tuple[dict[str, str], ...] = (
    {
        "name": "StripeCardError",
        "message": "Your card was declined. (decline_code: insufficient_funds)",
        "stackTrace": "StripeCardError: Your card was declined.\n"
        "    at StripeError.generate (node_modules/stripe/cjs/Error.js:10:20)\n"
        "    at attemptBillingRun (src/trigger/billing.ts:88:13)",
    },
    {
        "name": "TimeoutError",
        "message": "fetch https://api.hubapi.com/crm/v3/objects/contacts timed out after 30000 ms",
        "stackTrace": "TimeoutError: The operation was aborted due to timeout\n"
        "    at syncCustomer (src/trigger/crm.ts:41:7)",
    },
    {
        "name": "PrismaClientKnownRequestError",
        "message": "Unique constraint failed on the fields: (`invoice_number`)",
        "stackTrace": "PrismaClientKnownRequestError: \nInvalid `prisma.invoice.create()` "
        "invocation:\n    at finalizeInvoice (src/trigger/invoices.ts:120:5)",
    },
    {
        "name": "Error",
        "message": "Expected **amount** > 0 for <b>refund</b>, got -1 — see [docs](https://example.com)",
        "stackTrace": "Error: Expected **amount** > 0\n"
        "    at assertAmount (src/lib/money.ts:12:11)",
    },
    {
        "name": "TASK_PROCESS_OOM_KILLED",
        "message": "Task ran out of memory (large-1x machine, 2 GB)",
    },
)

# Out of 1,000 (by the run ID's hash); states that need a recent record are
# COMPLETED for older ones.
_SHARES: tuple[tuple[int, str], ...] = (
    (860, "COMPLETED"),
    (930, "FAILED"),
    (945, "CRASHED"),
    (955, "SYSTEM_FAILURE"),
    (965, "TIMED_OUT"),
    (975, "CANCELED"),
    (990, "EXECUTING"),
    (997, "QUEUED"),
    (1000, "WAITING"),
)
_RECENT = timedelta(hours=6)
_ELSEWHERE_PER_MILLE = 10  # runs of another environment: 404


def _stable(text: str, modulo: int) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") % modulo


def demo_run(
    run_id: str, entity_type: str, entity_id: str, processed_at: datetime, now: datetime
) -> dict[str, Any] | None:
    """The run behind one demo record, or None for a run of another environment."""
    if _stable(run_id + ":env", 1000) < _ELSEWHERE_PER_MILLE:
        return None
    pick = _stable(run_id, 1000)
    status = next(name for limit, name in _SHARES if pick < limit)
    recent = now - processed_at < _RECENT
    if status in ("EXECUTING", "QUEUED", "WAITING") and not recent:
        status = "COMPLETED"
    tasks = TASKS.get(entity_type, (FALLBACK_TASK,))
    task = tasks[_stable(run_id + ":task", len(tasks))]
    # The record is written while the run works: the run was created a little earlier.
    created = processed_at - timedelta(seconds=2 + _stable(run_id + ":age", 90))
    error = None
    if status in ("FAILED", "CRASHED", "SYSTEM_FAILURE"):
        error = dict(ERRORS[_stable(run_id + ":error", len(ERRORS))])
    elif status == "TIMED_OUT":
        error = {"name": "MAX_DURATION_EXCEEDED", "message": "Run exceeded maxDuration of 300s"}
    parent = None
    if _stable(run_id + ":parent", 5) == 0:
        parent = "run_" + hashlib.sha256(run_id.encode()).hexdigest()[:25]
    return make_run(
        run_id,
        status=status,
        task=task,
        created_at=created,
        attempt_count=1 + (_stable(run_id + ":attempts", 3) if error else 0),
        is_test=_stable(run_id + ":test", 50) == 0,
        tags=(f"{entity_type}_{entity_id}"[:128],),
        error=error,
        root=parent,
        parent=parent,
    )


def demo_runs(
    records: Iterable[tuple[str, str, str, datetime]], *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Runs for ``(run_id, entity_type, entity_id, processed_at)`` records (one per run ID)."""
    now = now or datetime.now(UTC)
    runs: dict[str, dict[str, Any]] = {}
    for run_id, entity_type, entity_id, processed_at in records:
        if run_id in runs:
            continue
        run = demo_run(run_id, entity_type, entity_id, processed_at, now)
        if run is not None:
            runs[run_id] = run
    return list(runs.values())


def demo_standin(records: Iterable[tuple[str, str, str, datetime]]) -> TriggerStandIn:
    """The in-process API a demo app reads runs from (use ``.transport()``, ``DEMO_KEY``)."""
    # A budget well above the real one: one process serves every demo session, and a
    # newcomer clicking Resolve a few times should not wait out the real limit.
    return TriggerStandIn(
        demo_runs(records), key=DEMO_KEY, burst=DEMO_BURST, refill=DEMO_BURST, refill_seconds=10.0
    )
