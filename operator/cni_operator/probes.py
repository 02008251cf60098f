"""/healthz: 200 while the operator can do its job, 503 with the reasons while it cannot.

The kubelet's liveness and readiness probes read it. It answers from the process's own event loop, so an answer also
says the loop is not stuck; it is up before the Lease is taken, so a standby that waits for another process is
healthy (that is its job), while the process holding the Lease is not while the ClusterNetwork CRD is missing (it
cannot serve the resource: failing probes show it and restart it).
"""

from __future__ import annotations

import threading

from aiohttp import web


class Health:
    """What the operator is doing (for people who curl it), and why it cannot serve now (empty when it can)."""

    def __init__(self, state: str = "starting") -> None:
        self._lock = threading.Lock()
        self._state = state
        self._problems: dict[str, str] = {}

    def state(self, text: str) -> None:
        with self._lock:
            self._state = text

    def problem(self, key: str, text: str | None) -> None:
        """Set (TEXT) or clear (None) one reason the operator cannot serve."""
        with self._lock:
            if text:
                self._problems[key] = text
            else:
                self._problems.pop(key, None)

    def answer(self) -> tuple[int, str]:
        with self._lock:
            if self._problems:
                return 503, "".join(f"not serving: {text}\n" for text in self._problems.values())
            return 200, f"ok: {self._state}\n"


async def start_server(health: Health, port: int, host: str = "127.0.0.1") -> web.AppRunner:
    async def handle(_: web.Request) -> web.Response:
        status, text = health.answer()
        return web.Response(status=status, text=text, content_type="text/plain", charset="utf-8")

    app = web.Application()
    app.router.add_get("/healthz", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
