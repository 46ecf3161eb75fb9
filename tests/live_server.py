"""A real HTTP server (Werkzeug's threaded WSGI server) on a free loopback port, in a thread;
and a free loopback port for servers of other processes."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
from collections.abc import Iterator

from werkzeug.serving import make_server


def free_port() -> int:
    """A loopback port free now (a server started soon after will most likely get it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve_in_thread(app) -> Iterator[str]:
    """Serve app until the block ends; yields its base URL (http://127.0.0.1:<port>)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def stop_process(process: subprocess.Popen, timeout_s: float = 10) -> None:
    """Terminate a server process started by a test, and kill it if it does not stop in time."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)
