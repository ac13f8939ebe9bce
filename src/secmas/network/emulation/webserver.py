"""The real HTTP server of an emulated run, started in the server's namespace.

`GET /bytes/N` answers N bytes (small pages for HTTP clients, large video-like chunks for
video clients), one request per connection (HTTP/1.0), on every service port.

    python -m secmas.network.emulation.webserver ADDRESS PORT [PORT…]
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BYTES = 64 * 1024 * 1024
CHUNK = b"v" * 65536


class Handler(BaseHTTPRequestHandler):
    """Serves /bytes/N; anything else is 404."""

    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        parts = self.path.strip("/").split("/")
        if len(parts) != 2 or parts[0] != "bytes" or not parts[1].isdigit():
            self.send_error(404)
            return
        size = min(int(parts[1]), MAX_BYTES)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        while size > 0:
            piece = CHUNK[: min(size, len(CHUNK))]
            self.wfile.write(piece)
            size -= len(piece)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the run counts requests at the clients."""


class Server(ThreadingHTTPServer):
    """A threading server with a listen backlog that survives a SYN flood's bursts."""

    request_queue_size = 1024
    daemon_threads = True


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    address, ports = argv[0], [int(p) for p in argv[1:]]
    servers = [Server((address, port), Handler) for port in ports]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
