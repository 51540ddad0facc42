"""GRIP backend for Pushpin in bench/run.sh.

Pushpin only proxies: a backend must tell it to hold each request as a stream and which
channel it listens to. GET /sub/{channel} answers exactly that, with an SSE comment as the
first bytes, so the subscriber sees its stream open. Usage: backend.py PORT
"""

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Hold(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        channel = self.path.rsplit("/", 1)[-1]
        body = b": open\n\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Grip-Hold", "stream")
        self.send_header("Grip-Channel", channel)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024


if __name__ == "__main__":
    Server(("127.0.0.1", int(sys.argv[1])), Hold).serve_forever()
