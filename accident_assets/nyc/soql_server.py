"""A loopback Socrata (SODA) server for tests and benchmarks, with injectable faults.

It speaks the SoQL subset :class:`accident_assets.nyc.socrata.SocrataClient` uses: a one-day
``$where`` range on ``crash_date``, ``$select=count(*)`` and ``$select=max(crash_date)``,
``$order=collision_id``, ``$limit`` and ``$offset``. Rows come from any backend (a function of the
day). Bounded: binds 127.0.0.1 on a free port, serves from a daemon thread, and stops at
``stop()``/context exit or after ``max_lifetime_s``, whichever comes first.

Faults (``inject``), each for the next ``times`` matching requests: ``429`` (with
``Retry-After``), ``500``, ``slow`` (answers after ``delay_s``), ``truncated`` (cuts the JSON
body in half), ``count_mismatch`` (the count disagrees with the rows by ``delta``).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

FaultKind = Literal["429", "500", "slow", "truncated", "count_mismatch"]
Target = Literal["rows", "count", "max", "any"]
WHERE_RE = re.compile(
    r"^crash_date >= '(\d{4}-\d{2}-\d{2})T00:00:00' AND crash_date < '(\d{4}-\d{2}-\d{2})T00:00:00'$"
)
PATH = "/resource/h9gi-nx95.json"


@dataclass
class Fault:
    kind: FaultKind
    times: int = 1
    target: Target = "rows"
    retry_after: str = "1"
    delay_s: float = 2.0
    delta: int = 1


@dataclass
class Request:
    params: dict[str, str]
    headers: dict[str, str]
    status: int = 200
    fault: str | None = None


@dataclass
class SoqlServer:
    rows_for_day: Callable[[dt.date], list[dict[str, Any]]]
    newest: Callable[[], dt.date | None] = lambda: None
    max_lifetime_s: float = 120.0
    faults: list[Fault] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._timer: threading.Timer | None = None

    @classmethod
    def from_records(cls, records: list[dict[str, Any]], **kwargs: Any) -> SoqlServer:
        by_day: dict[dt.date, list[dict[str, Any]]] = {}
        for r in records:
            by_day.setdefault(dt.date.fromisoformat(r["crash_date"][:10]), []).append(r)
        return cls(
            rows_for_day=lambda day: by_day.get(day, []),
            newest=lambda: max(by_day, default=None),
            **kwargs,
        )

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{PATH}"

    def inject(self, kind: FaultKind, **kwargs: Any) -> Fault:
        fault = Fault(kind, **kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def _take_fault(self, target: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.target in (target, "any"):
                    fault.times -= 1
                    return fault
        return None

    def start(self) -> SoqlServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                split = urlsplit(self.path)
                params = {k: v[-1] for k, v in parse_qs(split.query).items()}
                record = Request(params, {k.lower(): v for k, v in self.headers.items()})
                server.requests.append(record)
                if split.path != PATH:
                    return self._send(record, 404, {"error": f"no dataset at {split.path}"})
                try:
                    target, body = server._answer(params)
                except ValueError as err:
                    return self._send(record, 400, {"error": str(err)})
                fault = server._take_fault(target)
                record.fault = fault.kind if fault else None
                if fault is None:
                    return self._send(record, 200, body)
                if fault.kind == "429":
                    return self._send(
                        record, 429, {"error": "slow down"}, {"Retry-After": fault.retry_after}
                    )
                if fault.kind == "500":
                    return self._send(record, 500, {"error": "internal"})
                if fault.kind == "slow":
                    time.sleep(fault.delay_s)
                    return self._send(record, 200, body)
                if fault.kind == "truncated":
                    raw = json.dumps(body).encode()
                    return self._send_bytes(record, 200, raw[: max(1, len(raw) // 2)])
                if fault.kind == "count_mismatch" and target == "count":
                    count = int(body[0]["count"]) + fault.delta
                    return self._send(record, 200, [{"count": str(count)}])
                return self._send(record, 200, body)

            def _send(
                self, record: Request, status: int, body: Any, headers: dict | None = None
            ) -> None:
                self._send_bytes(record, status, json.dumps(body).encode(), headers)

            def _send_bytes(
                self, record: Request, status: int, raw: bytes, headers: dict | None = None
            ) -> None:
                record.status = status
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout); that is the point of a slow fault

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        self._timer = threading.Timer(self.max_lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    def stop(self) -> None:
        with self._lock:
            httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if self._timer is not None and threading.current_thread() is not self._timer:
            self._timer.cancel()

    def __enter__(self) -> SoqlServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, params: dict[str, str]) -> tuple[str, list[dict[str, Any]]]:
        select = params.get("$select", "").replace(" ", "").lower()
        if select == "max(crash_date)":
            newest = self.newest()
            value = f"{newest.isoformat()}T00:00:00.000" if newest else None
            return "max", [{"max_crash_date": value}] if value else [{}]
        where = params.get("$where", "")
        match = WHERE_RE.match(where)
        if not match:
            raise ValueError(f"unsupported $where: {where!r}")
        first = dt.date.fromisoformat(match.group(1))
        end = dt.date.fromisoformat(match.group(2))
        rows = [
            r
            for i in range((end - first).days)
            for r in self.rows_for_day(first + dt.timedelta(days=i))
        ]
        if select == "count(*)":
            return "count", [{"count": str(len(rows))}]
        if select:
            raise ValueError(f"unsupported $select: {select!r}")
        order = params.get("$order", "")
        if order == "collision_id":
            rows = sorted(rows, key=lambda r: int(r["collision_id"]))
        elif order:
            raise ValueError(f"unsupported $order: {order!r}")
        offset = int(params.get("$offset", "0"))
        limit = int(params.get("$limit", "1000"))
        return "rows", rows[offset : offset + limit]
