#!/usr/bin/env python3
"""Control server for the SDK's browser tests (stdlib only, 127.0.0.1 only, CORS open).

It runs the real gateway binary as its child so that a test in the browser can restart
it, and it offers the one thing a healthy gateway cannot produce on demand: an endpoint
that always fails. Endpoints:

  POST /restart?session=S&key=K&value=V
      Kills the gateway (SIGKILL, as in a crash), starts it again on the same port, waits
      until it answers, then publishes {K: V} to session S straight to the gateway, before
      the browser's SDK can reconnect. Answers {"published": PublishResponse}.
  GET|POST /unavailable/...  Always `503 service_unavailable` in the gateway's error format
                          (a stand-in for a gateway whose backend is down); counted, and
                          the last request's method, path and Authorization header are kept.
  GET  /token?session=S[&session=T…][&publish=1][&expired=1]
                          {"url": <the second gateway, AUTH_JWT_SECRET set>, "token": <HS256
                          JWT for those sessions, valid 10 minutes (expired two minutes ago
                          with `expired=1`), allowed to publish with `publish=1`>}
                          (with --auth-gateway-port)
  GET  /hits              {"unavailable": <requests so far to /unavailable/...>,
                           "method": <last method>, "path": <last path and query>,
                           "authorization": <last header>}

Usage: control.py --gateway BIN --gateway-port PORT --auth-gateway-port PORT --state-dir DIR
Writes DIR/control.port when ready; stops the gateway when it exits (SIGTERM/SIGINT).
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Gateway:
    """The gateway binary as a child process on a fixed port."""

    def __init__(self, binary, port, log_path, env=None):
        self.binary, self.port, self.log_path = binary, port, log_path
        self.extra_env = env or {}
        self.process = None
        self.lock = threading.Lock()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        # Short heartbeats so that the SDK's idle watchdog is exercised by real pings; no
        # POST rate limit, as the tests publish hundreds of updates from one address.
        env = dict(
            os.environ,
            LISTEN_ADDR=f"127.0.0.1:{self.port}",
            HEARTBEAT_SECONDS="2",
            POST_RATE_PER_MINUTE="0",
        )
        env.update(self.extra_env)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([self.binary], env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.process.returncode}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("gateway did not become healthy in 30 s")

    def stop(self, sig=signal.SIGTERM):
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=10)

    def restart(self):
        with self.lock:
            self.stop(signal.SIGKILL)
            self.start()

    def publish(self, session, metadata):
        request = urllib.request.Request(
            f"{self.url}/v1/sessions/{session}/metadata",
            data=json.dumps({"operation": "update", "metadata": metadata}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.load(response)


# The secret of the gateway started with authentication on (tests only).
JWT_SECRET = "sdk-browser-tests-secret-0123456789abcdef"


def jwt(claims):
    """An HS256 JWT signed with JWT_SECRET."""
    encode = lambda data: base64.urlsafe_b64encode(data).rstrip(b"=").decode()
    header = encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = encode(json.dumps(claims).encode())
    signature = hmac.new(JWT_SECRET.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{encode(signature.digest())}"


def handler(gateway, auth_gateway, hits):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format, *args):
            sys.stderr.write("control: " + format % args + "\n")

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Access-Control-Allow-Origin", "*")
            # `*` would not cover Authorization: list what the SDK sends.
            self.send_header(
                "Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID"
            )
            self.send_header("Access-Control-Allow-Methods", "GET, POST")
            self.end_headers()
            self.wfile.write(data)

        def do_OPTIONS(self):
            self.answer(204, {})

        def unavailable(self):
            hits["unavailable"] += 1
            hits["method"] = self.command
            hits["path"] = self.path
            hits["authorization"] = self.headers.get("Authorization")
            error = {"code": "service_unavailable", "message": "backend down (test stand-in)"}
            return self.answer(503, {"error": error})

        def do_GET(self):
            path = urlsplit(self.path).path
            if path.startswith("/unavailable/"):
                return self.unavailable()
            if path == "/hits":
                return self.answer(200, hits)
            if path == "/token" and auth_gateway:
                query = parse_qs(urlsplit(self.path).query)
                lifetime = -120 if query.get("expired") else 600
                claims = {"exp": int(time.time()) + lifetime, "sessions": query["session"]}
                if query.get("publish"):
                    claims["publish"] = True
                return self.answer(200, {"url": auth_gateway.url, "token": jwt(claims)})
            self.answer(404, {"error": {"code": "not_found", "message": path}})

        def do_POST(self):
            url = urlsplit(self.path)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if url.path.startswith("/unavailable/"):
                return self.unavailable()
            if url.path != "/restart":
                return self.answer(404, {"error": {"code": "not_found", "message": url.path}})
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            gateway.restart()
            published = None
            if "session" in query:
                published = gateway.publish(query["session"], {query["key"]: query["value"]})
            self.answer(200, {"published": published})

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--gateway-port", type=int, required=True)
    parser.add_argument("--auth-gateway-port", type=int)
    parser.add_argument("--state-dir", required=True)
    args = parser.parse_args()

    gateway = Gateway(args.gateway, args.gateway_port, os.path.join(args.state_dir, "gateway.log"))
    gateway.start()
    auth_gateway = None
    if args.auth_gateway_port:
        log = os.path.join(args.state_dir, "auth-gateway.log")
        auth_gateway = Gateway(args.gateway, args.auth_gateway_port, log, {"AUTH_JWT_SECRET": JWT_SECRET})
        auth_gateway.start()
    hits = {"unavailable": 0, "method": None, "path": None, "authorization": None}
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(gateway, auth_gateway, hits))

    def stop_gateways():
        gateway.stop()
        if auth_gateway:
            auth_gateway.stop()

    def shutdown(*_):
        stop_gateways()
        sys.exit(0)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    with open(os.path.join(args.state_dir, "control.port"), "w") as f:
        f.write(str(server.server_address[1]))
    try:
        server.serve_forever()
    finally:
        stop_gateways()


if __name__ == "__main__":
    main()
