"""A loopback Socrata (SODA) server for tests and benchmarks, with injectable faults.

It speaks the SoQL subset :class:`accident_assets.nyc.socrata.SocrataClient` uses: a day-range
``$where`` on ``crash_date``; ``$select=count(*)``; ``$select=max(crash_date)``; rows with
``$order=collision_id``, ``$limit`` and ``$offset``; and the grouped per-day statistics
``$select=date_trunc_ymd(crash_date) AS day, count(*) AS n, count(latitude) AS geocoded,
max(:updated_at) AS updated_at`` with ``$group=day`` and ``$order=day``. ``count(col)`` counts
rows that have the column, as Socrata does. With ``supports_updated_at=False`` it answers any
mention of ``:updated_at`` with a 400, like a server (or view) without system fields.

Rows live in a mutable store keyed by ``collision_id``: :meth:`SoqlServer.upsert` inserts or
replaces rows (stamping each row's ``:updated_at`` from a monotonically increasing clock) and
:meth:`SoqlServer.delete` removes them, so a test can move a crash to another day, hold rows back
and release them later, or back-fill geocodes. ``rows_for_day`` (a function of the day) seeds a
day lazily the first time a request covers it; ids already in the store are kept.

Faults (``inject``), each for the next ``times`` matching requests (``target`` picks the query
kind, ``day`` restricts it to requests whose range covers that day):
``429`` (with any ``Retry-After``), ``500``, ``slow`` (answers after ``delay_s``), ``truncated``
(a complete HTTP answer whose JSON is cut in half), ``drop_connection`` (headers announce the
full body, half of it is sent, then the connection is closed), ``count_mismatch`` (the count is
off by ``delta``), ``shuffle`` (the page is cut from the rows in a fresh random order, ignoring
``$order``: pages overlap and skip, as Socrata's do when the order is not unique), ``empty`` (the
covered day, or every day, answers as if it had no rows: a short outage).

Bounded: binds 127.0.0.1 on a free port, serves from a daemon thread, and stops at
``stop()``/context exit or after ``max_lifetime_s``, whichever comes first.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

FaultKind = Literal[
    "429", "500", "slow", "truncated", "drop_connection", "count_mismatch", "shuffle", "empty"
]
Target = Literal["rows", "count", "max", "stats", "any"]
WHERE_RE = re.compile(
    r"^crash_date >= '(\d{4}-\d{2}-\d{2})T00:00:00' AND crash_date < '(\d{4}-\d{2}-\d{2})T00:00:00'$"
)
SELECT_ITEM_RE = re.compile(r"^(.+?)\s+as\s+(\w+)$", re.IGNORECASE)
PATH = "/resource/h9gi-nx95.json"
CLOCK_START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@dataclass
class Fault:
    kind: FaultKind
    times: int = 1
    target: Target = "rows"
    day: dt.date | None = None
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
class _Query:
    target: str
    first: dt.date | None = None
    end: dt.date | None = None  # exclusive


def _day_of(row: dict[str, Any]) -> dt.date:
    return dt.date.fromisoformat(row["crash_date"][:10])


@dataclass
class SoqlServer:
    rows_for_day: Callable[[dt.date], list[dict[str, Any]]] | None = None
    newest: Callable[[], dt.date | None] | None = None
    max_lifetime_s: float = 120.0
    supports_updated_at: bool = True
    seed: int = 0
    faults: list[Fault] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._timer: threading.Timer | None = None
        self._rows: dict[int, dict[str, Any]] = {}
        self._updated_at: dict[int, str] = {}
        self._seeded: set[dt.date] = set()
        self._clock = 0
        self._random = random.Random(self.seed)

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]], **kwargs: Any) -> SoqlServer:
        server = cls(**kwargs)
        server.upsert(records)
        return server

    # -- the row store -------------------------------------------------------------------------

    def upsert(self, rows: Iterable[dict[str, Any]]) -> None:
        """Insert or replace rows by ``collision_id``; each gets a newer ``:updated_at``."""
        with self._lock:
            for row in rows:
                self._put(dict(row))

    def delete(self, ids: Iterable[int | str]) -> None:
        with self._lock:
            for cid in ids:
                self._rows.pop(int(cid), None)
                self._updated_at.pop(int(cid), None)

    def rows(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._rows.values()]

    def _put(self, row: dict[str, Any]) -> None:
        cid = int(row["collision_id"])
        self._clock += 1
        stamp = CLOCK_START + dt.timedelta(seconds=self._clock)
        self._rows[cid] = row
        self._updated_at[cid] = stamp.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def _window(self, first: dt.date, end: dt.date) -> list[tuple[dict[str, Any], str]]:
        """Rows (with their ``:updated_at``) of the days ``first`` <= day < ``end``."""
        with self._lock:
            if self.rows_for_day is not None:
                for i in range((end - first).days):
                    day = first + dt.timedelta(days=i)
                    if day not in self._seeded:
                        self._seeded.add(day)
                        for row in self.rows_for_day(day):
                            if int(row["collision_id"]) not in self._rows:
                                self._put(dict(row))
            return [
                (row, self._updated_at[cid])
                for cid, row in self._rows.items()
                if first <= _day_of(row) < end
            ]

    def _newest(self) -> dt.date | None:
        if self.newest is not None:
            return self.newest()
        with self._lock:
            return max((_day_of(r) for r in self._rows.values()), default=None)

    # -- faults ----------------------------------------------------------------------------------

    def inject(self, kind: FaultKind, **kwargs: Any) -> Fault:
        fault = Fault(kind, **kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def _take_fault(self, query: _Query) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times <= 0 or fault.target not in (query.target, "any"):
                    continue
                if fault.day is not None and not (
                    query.first is not None
                    and query.end is not None
                    and query.first <= fault.day < query.end
                ):
                    continue
                fault.times -= 1
                return fault
        return None

    # -- HTTP ------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{PATH}"

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
                    query = server._parse(params)
                except ValueError as err:
                    return self._send(record, 400, {"message": str(err), "errorCode": "query"})
                fault = server._take_fault(query)
                record.fault = fault.kind if fault else None
                if fault is not None and fault.kind == "429":
                    return self._send(
                        record, 429, {"error": "slow down"}, {"Retry-After": fault.retry_after}
                    )
                if fault is not None and fault.kind == "500":
                    return self._send(record, 500, {"error": "internal"})
                if fault is not None and fault.kind == "slow":
                    time.sleep(fault.delay_s)
                raw = json.dumps(server._answer(params, query, fault)).encode()
                if fault is not None and fault.kind == "truncated":
                    return self._send_bytes(record, 200, raw[: max(1, len(raw) // 2)])
                if fault is not None and fault.kind == "drop_connection":
                    self.close_connection = True
                    return self._send_bytes(
                        record, 200, raw[: max(1, len(raw) // 2)], length=len(raw)
                    )
                return self._send_bytes(record, 200, raw)

            def _send(
                self, record: Request, status: int, body: Any, headers: dict | None = None
            ) -> None:
                self._send_bytes(record, status, json.dumps(body).encode(), headers=headers)

            def _send_bytes(
                self,
                record: Request,
                status: int,
                raw: bytes,
                headers: dict | None = None,
                length: int | None = None,
            ) -> None:
                record.status = status
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw) if length is None else length))
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

    # -- SoQL ------------------------------------------------------------------------------------

    def _parse(self, params: dict[str, str]) -> _Query:
        if not self.supports_updated_at and any(":updated_at" in v for v in params.values()):
            raise ValueError("No such column: :updated_at")
        select = params.get("$select", "").replace(" ", "").lower()
        if select == "max(crash_date)":
            return _Query("max")
        where = params.get("$where", "")
        match = WHERE_RE.match(where)
        if not match:
            raise ValueError(f"unsupported $where: {where!r}")
        first, end = (dt.date.fromisoformat(g) for g in match.groups())
        if select == "count(*)":
            return _Query("count", first, end)
        if "$group" in params:
            return _Query("stats", first, end)
        if select:
            raise ValueError(f"unsupported $select: {select!r}")
        return _Query("rows", first, end)

    def _answer(self, params: dict[str, str], query: _Query, fault: Fault | None) -> Any:
        if query.target == "max":
            newest = self._newest()
            return [{"max_crash_date": f"{newest.isoformat()}T00:00:00.000"}] if newest else [{}]
        assert query.first is not None and query.end is not None
        window = self._window(query.first, query.end)
        if fault is not None and fault.kind == "empty":
            window = [(r, u) for r, u in window if fault.day not in (None, _day_of(r))]
        if query.target == "count":
            delta = fault.delta if fault is not None and fault.kind == "count_mismatch" else 0
            return [{"count": str(len(window) + delta)}]
        if query.target == "stats":
            return self._stats(params, window)
        rows = [r for r, _ in window]
        order = params.get("$order", "")
        if fault is not None and fault.kind == "shuffle":
            self._random.shuffle(rows)
        elif order == "collision_id":
            rows.sort(key=lambda r: int(r["collision_id"]))
        elif order:
            raise ValueError(f"unsupported $order: {order!r}")
        offset = int(params.get("$offset", "0"))
        limit = int(params.get("$limit", "1000"))
        return rows[offset : offset + limit]

    def _stats(
        self, params: dict[str, str], window: list[tuple[dict[str, Any], str]]
    ) -> list[dict[str, str]]:
        """``$select`` of ``expr AS alias`` items over ``$group=<alias of the day>``."""
        items = [SELECT_ITEM_RE.match(s.strip()) for s in params.get("$select", "").split(",")]
        if not all(items):
            raise ValueError(f"unsupported $select: {params.get('$select')!r}")
        select = {m.group(2): m.group(1).replace(" ", "").lower() for m in items if m}
        group = params["$group"]
        if select.get(group) != "date_trunc_ymd(crash_date)":
            raise ValueError(f"unsupported $group: {group!r}")
        if params.get("$order", group) != group:
            raise ValueError(f"unsupported $order: {params['$order']!r}")
        days: dict[dt.date, list[tuple[dict[str, Any], str]]] = {}
        for row, stamp in window:
            days.setdefault(_day_of(row), []).append((row, stamp))
        out = []
        for day in sorted(days):
            group_rows = days[day]
            answer: dict[str, str] = {}
            for alias, expr in select.items():
                if expr == "date_trunc_ymd(crash_date)":
                    answer[alias] = f"{day.isoformat()}T00:00:00.000"
                elif expr == "count(*)":
                    answer[alias] = str(len(group_rows))
                elif expr.startswith("count(") and expr.endswith(")"):
                    column = expr[len("count(") : -1]
                    answer[alias] = str(sum(r.get(column) is not None for r, _ in group_rows))
                elif expr == "max(:updated_at)":
                    answer[alias] = max(stamp for _, stamp in group_rows)
                else:
                    raise ValueError(f"unsupported $select item: {expr!r}")
            out.append(answer)
        offset = int(params.get("$offset", "0"))
        limit = int(params.get("$limit", "1000"))
        return out[offset : offset + limit]
