"""Run the API under uvicorn in a background thread on a free loopback port, for the tests."""

from __future__ import annotations

import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def serve_in_thread(
    app: Any, *, host: str = "127.0.0.1", start_timeout: float = 30.0, stop_timeout: float = 10.0
) -> Iterator[str]:
    """Yield the base URL of ``app`` served by uvicorn; the server stops when the block ends.

    The socket is bound here (port 0: the OS picks a free port) and handed to uvicorn, so there
    is no race between choosing a port and listening on it. Stopping is bounded: requests still
    running after half of ``stop_timeout`` are cancelled, and a server that has not stopped by
    ``stop_timeout`` is reported (its thread is a daemon and dies with the process).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            # uvicorn closes idle keep-alive connections after 5 s by default; a client reusing
            # one at that instant gets a dropped connection. Long enough for the busy tests.
            timeout_keep_alive=75,
            timeout_graceful_shutdown=max(1, int(stop_timeout / 2)),
        )
    )
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"uvicorn-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + start_timeout
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("uvicorn exited before it started; see the log above")
            if time.monotonic() > deadline:
                raise TimeoutError(f"uvicorn did not start within {start_timeout} s")
            time.sleep(0.02)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(stop_timeout)
        sock.close()
        if thread.is_alive():
            warnings.warn(
                f"uvicorn on port {port} did not stop within {stop_timeout} s", stacklevel=3
            )
