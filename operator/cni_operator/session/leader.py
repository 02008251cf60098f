"""Taking, keeping and giving back the Lease (the rules are in `session/lease.py`).

`acquire()` blocks until this process holds the Lease, reading it every `retry_period` meanwhile and writing nothing;
`start_renewing()` keeps it from a thread of its own (with its own connection pool), so a busy event loop or a slow
reconcile pass never delays a renewal; `held()` is what a reconcile pass checks before it writes; `release()` gives
it back on a clean stop so a successor need not wait for it to expire.

When the Lease is lost (renewal failing for `renew_deadline`, or someone else's name in it) `on_lost` is called from
the renewing thread with the reason; the runner then ends the process at once rather than risk two writers.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable

from ..kube import Kube, KubeError
from ..objects import ObjectRef, utcnow
from .lease import LeaseRecord, LeaseTiming, describe_holder, expired, waiting_message

API_VERSION, KIND = "coordination.k8s.io/v1", "Lease"


class LeaseKeeper:
    def __init__(self, kube: Kube, name: str, namespace: str, identity: str, timing: LeaseTiming, *,
                 logger: logging.Logger | None = None, on_lost: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, now: Callable[[], datetime.datetime] = utcnow):
        self.kube, self.identity, self.timing = kube, identity, timing
        self.ref = ObjectRef(API_VERSION, KIND, name, namespace)
        self.where = f"{namespace}/{name}"
        self.logger = logger or logging.getLogger("cni_operator")
        self.on_lost = on_lost or (lambda reason: None)
        self.clock, self.now = clock, now
        self._lease: dict | None = None  # the Lease as last written or read by us: its resourceVersion guards writes
        self._renewed: float | None = None  # monotonic time of the last successful write
        self._lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._complaint = ("", 0.0)  # the last warning and when: the same trouble is said once a minute

    # ---- taking it

    def acquire(self, stop: threading.Event) -> bool:
        """Block until this process holds the Lease (True), or STOP is set first (False)."""
        seen: LeaseRecord | None = None
        seen_at = self.clock()
        announced: str | None = None
        while not stop.is_set():
            try:
                lease = self.kube.get(self.ref)
                if lease is None:
                    return self._took(self.kube.create(self._body(None, LeaseRecord().taken_by(
                        self.identity, self.timing.duration, self.now()))), None)
                record = LeaseRecord.of(lease)
                if record != seen:
                    seen, seen_at = record, self.clock()
                if record.holder == self.identity or expired(record, self.clock() - seen_at, self.now()):
                    taken = record.taken_by(self.identity, self.timing.duration, self.now())
                    return self._took(self.kube.replace(self._body(lease, taken)), record)
                if record.holder != announced:
                    self.logger.info(waiting_message(self.where, record, self.now()))
                    announced = record.holder
            except KubeError as exc:
                if exc.status != 409:  # 409: another process wrote it between our read and our write: look again
                    self._complain(f"cannot take the Lease {self.where}: {exc}")
                else:
                    continue
            except Exception as exc:  # noqa: BLE001 - the API server is away: keep looking, say so
                self._complain(f"cannot read the Lease {self.where}: {exc}")
            stop.wait(self.timing.retry_period)
        return False

    def _took(self, lease: dict, before: LeaseRecord | None) -> bool:
        self._lease, self._renewed = lease, self.clock()
        record = LeaseRecord.of(lease)
        if before is None:
            how = "created it"
        elif before.holder == self.identity:
            how = "it was already this process's"
        elif not before.holder:
            how = "it was released"
        else:
            how = f"{describe_holder(before.holder)} had not renewed it for {before.duration}s"
        self.logger.info("took the Lease %s as %s (%s; transitions %d); renewing it every %gs", self.where,
                         self.identity, how, record.transitions, self.timing.renew_period)
        return True

    # ---- keeping it

    def held(self) -> bool:
        """Whether this process may write now: it holds the Lease and renewed it within the deadline."""
        renewed = self._renewed
        return not self._lost and renewed is not None and self.clock() - renewed < self.timing.renew_deadline

    def start_renewing(self) -> None:
        self._thread = threading.Thread(target=self._renew_loop, name="cni-operator-lease", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        wait = self.timing.renew_period
        while not self._stop.wait(wait):
            before = self._renewed
            reason = self.renew_once()
            if reason:
                self._lost = True
                self.on_lost(reason)
                return
            wait = self.timing.renew_period if self._renewed != before else self.timing.retry_period

    def renew_once(self) -> str | None:
        """One renewal attempt; the reason when the Lease is lost, else None (renewed, or to be retried)."""
        try:
            record = LeaseRecord.of(self._lease).renewed_at(self.now())
            self._lease = self.kube.replace(self._body(self._lease, record))
            self._renewed = self.clock()
            return None
        except KubeError as exc:
            if exc.status in (404, 409):
                lost = self._still_ours()
                if lost:
                    return lost
            else:
                self._complain(f"cannot renew the Lease {self.where}: {exc}")
        except Exception as exc:  # noqa: BLE001 - the API server is away: retry until the deadline
            self._complain(f"cannot renew the Lease {self.where}: {exc}")
        silent = self.clock() - (self._renewed or 0)
        if silent >= self.timing.renew_deadline:
            return (f"could not renew the Lease {self.where} for {silent:.0f}s (the deadline is "
                    f"{self.timing.renew_deadline:g}s of its {self.timing.duration}s)")
        return None

    def _still_ours(self) -> str | None:
        """After a write refused as stale: whether someone else holds it now (the reason) or it is still ours (None:
        our previous write landed but its answer was lost; renew again on top of what is there)."""
        try:
            current = self.kube.get(self.ref)
        except Exception as exc:  # noqa: BLE001 - cannot tell yet: the deadline decides
            self._complain(f"cannot read the Lease {self.where}: {exc}")
            return None
        holder = LeaseRecord.of(current).holder if current else ""
        if current is None or holder != self.identity:
            return f"the Lease {self.where} is now held by {describe_holder(holder)}" if current else \
                f"the Lease {self.where} was deleted"
        self._lease = current
        return None

    # ---- giving it back

    def release(self) -> None:
        """Stop renewing and, when it is still ours, hand the Lease back so a successor takes it at once."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timing.retry_period + 15)
        if self._lease is None or self._lost:
            return
        try:
            current = self.kube.get(self.ref)
            if current is None or LeaseRecord.of(current).holder != self.identity:
                return
            self.kube.replace(self._body(current, LeaseRecord.of(current).released(self.now())))
            self._renewed = None
            self.logger.info("released the Lease %s", self.where)
        except Exception as exc:  # noqa: BLE001 - a successor waits for expiry instead
            self.logger.warning("could not release the Lease %s (a successor takes over when it expires, within "
                                "%ds): %s", self.where, self.timing.duration, exc)

    # ---- helpers

    def _body(self, lease: dict | None, record: LeaseRecord) -> dict:
        meta = {"name": self.ref.name, "namespace": self.ref.namespace}
        if lease is not None:
            meta["resourceVersion"] = (lease.get("metadata") or {}).get("resourceVersion")
        return {"apiVersion": API_VERSION, "kind": KIND, "metadata": meta, "spec": record.spec()}

    def _complain(self, message: str) -> None:
        last, when = self._complaint
        if message != last or self.clock() - when >= 60:
            self.logger.warning("%s; retrying every %gs", message, self.timing.retry_period)
            self._complaint = (message, self.clock())
