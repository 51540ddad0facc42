"""Runs the deploy/ artifacts together, as an operator would, on this machine:

1. deploys deploy/cloudformation.yaml into a private moto_server (an AWS-API-compatible
   server) and turns the stack's outputs into the gateway's environment, by the variable
   name each output's description carries (as docs/DEPLOY.md tells operators to);
2. starts the given gateway binary with that environment and waits for /readyz;
3. puts nginx with deploy/nginx.conf in front (ports and certificate swapped for local
   ones), subscribes to a session's SSE stream through it over HTTP/2 and TLS, sends an
   update to the stack's metadata queue and requires the event to arrive through nginx,
   uncompressed, with `X-Accel-Buffering: no`;
4. sends a malformed message and requires the template's redrive policy to move it to
   the dead-letter queue (the stack is created with MaxReceiveCount=1 and a visibility
   timeout of 2 s: long enough for a good message to be applied and deleted before SQS
   would deliver it again, short enough to redeliver the malformed one at once).

Usage: check_stack.py GATEWAY_BINARY MOTO_SERVER NGINX SCRATCH_DIR
Run by scripts/check-deploy.sh with the venv that has moto and boto3.
"""

import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import boto3

ROOT = pathlib.Path(__file__).resolve().parent.parent
SESSION = "deploy-check-session"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = predicate()
            if result:
                return result
        except Exception as err:  # not up yet
            last = err
        time.sleep(0.2)
    raise SystemExit(f"check_stack: timed out waiting for {what} (last error: {last})")


def get_json(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def nginx_config(gateway_port, https_port, http_port, prefix):
    """deploy/nginx.conf with local ports and log path; every swap must hit."""
    text = (ROOT / "deploy/nginx.conf").read_text()
    swaps = [
        ("server 127.0.0.1:8080;", f"server 127.0.0.1:{gateway_port};"),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"),
        ("listen [::]:443 ssl http2;", ""),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen [::]:80;", ""),
        ("/var/log/nginx/gateway.access.log", f"{prefix}/access.log"),
    ]
    for old, new in swaps:
        if old not in text:
            raise SystemExit(f"check_stack: deploy/nginx.conf no longer has {old!r}; update check_stack.py")
        text = text.replace(old, new)
    return text


def main():
    gateway_bin, moto_bin, nginx_bin, scratch = sys.argv[1:5]
    scratch = pathlib.Path(scratch)
    processes = []
    try:
        # 1. The stack, in a private moto_server.
        moto_port = free_port()
        aws_env = {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
        }
        os.environ.update(aws_env)
        processes.append(subprocess.Popen(
            [moto_bin, "-H", "127.0.0.1", "-p", str(moto_port)],
            stdout=open(scratch / "moto.log", "w"), stderr=subprocess.STDOUT))
        wait_for("moto_server", lambda: socket.create_connection(("127.0.0.1", moto_port), 0.2))
        cloudformation = boto3.client("cloudformation")
        cloudformation.create_stack(
            StackName="session-gateway",
            TemplateBody=(ROOT / "deploy/cloudformation.yaml").read_text(),
            Parameters=[
                {"ParameterKey": "MaxReceiveCount", "ParameterValue": "1"},
                {"ParameterKey": "VisibilityTimeoutSeconds", "ParameterValue": "2"},
            ],
        )
        stack = wait_for("the stack", lambda: next(
            s for s in cloudformation.describe_stacks(StackName="session-gateway")["Stacks"]
            if s["StackStatus"] == "CREATE_COMPLETE"))
        outputs = {o["Description"]: o["OutputValue"] for o in stack["Outputs"]}
        stack_env = {k: v for k, v in outputs.items() if k.isupper() and k.replace("_", "").isalnum()}
        print(f"check_stack: stack outputs -> {sorted(stack_env)}")

        # 2. The gateway on the stack's outputs, nothing else (as in the image: env only).
        gateway_port = free_port()
        env = {"PATH": os.environ["PATH"], "LISTEN_ADDR": f"127.0.0.1:{gateway_port}",
               "SQS_WAIT_SECONDS": "1", "QUEUE_STATS_INTERVAL_SECONDS": "1", **aws_env, **stack_env}
        processes.append(subprocess.Popen(
            [gateway_bin], env=env, stdout=open(scratch / "gateway.log", "w"), stderr=subprocess.STDOUT))
        base = f"http://127.0.0.1:{gateway_port}"

        def ready():
            # SNS starts as "degraded: not checked yet" until its first GetTopicAttributes.
            status, body = get_json(f"{base}/readyz")
            components = body["components"]
            return status == 200 and all(
                components.get(name, {}).get("status") == "ok" for name in ("sqs", "sns")) and components
        components = wait_for("/readyz: ready, with sqs and sns ok", ready)
        print(f"check_stack: gateway ready on the stack: {json.dumps(components)}")

        # 3. nginx in front; an SSE stream through it over HTTP/2 and TLS.
        prefix = scratch / "nginx-run"
        (prefix / "tls").mkdir(parents=True)
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=localhost", "-keyout", prefix / "tls/gateway.key",
                        "-out", prefix / "tls/gateway.crt"], check=True, capture_output=True)
        https_port, http_port = free_port(), free_port()
        (prefix / "nginx.conf").write_text(nginx_config(gateway_port, https_port, http_port, prefix))
        processes.append(subprocess.Popen(
            [nginx_bin, "-p", prefix, "-c", prefix / "nginx.conf", "-e", "stderr",
             "-g", f"daemon off; pid {prefix}/nginx.pid;"],
            stdout=open(scratch / "nginx.log", "w"), stderr=subprocess.STDOUT))
        wait_for("nginx", lambda: socket.create_connection(("127.0.0.1", https_port), 0.2))
        headers_file = scratch / "sse.headers"
        # --max-time bounds a stream that never delivers (heartbeats would keep it open).
        stream = subprocess.Popen(
            ["curl", "-sSNk", "--http2", "--max-time", "40", "-H", "Accept-Encoding: gzip",
             "-D", headers_file, f"https://127.0.0.1:{https_port}/v1/sessions/{SESSION}/events"],
            stdout=subprocess.PIPE, text=True, errors="replace")
        processes.append(stream)
        # The response head first: a compressed or buffered stream fails here, clearly.
        headers = wait_for("the SSE response head through nginx", lambda: (
            headers_file.exists() and b"\r\n\r\n" in headers_file.read_bytes()
            and headers_file.read_bytes().decode().lower()))
        for expected in ("http/2 200", "content-type: text/event-stream", "x-accel-buffering: no"):
            if expected not in headers:
                raise SystemExit(f"check_stack: SSE response through nginx lacks {expected!r}:\n{headers}")
        if "content-encoding" in headers:
            raise SystemExit(f"check_stack: nginx compressed the event stream:\n{headers}")

        def next_event():
            """The next SSE event as (type, data); comments and the retry hint are skipped."""
            kind, data = "message", ""
            while True:
                line = stream.stdout.readline()
                if not line:
                    raise SystemExit("check_stack: the SSE stream through nginx ended early")
                line = line.rstrip("\n")
                if line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].strip()
                elif line == "" and data:
                    return kind, data

        kind, _ = next_event()
        if kind != "snapshot":
            raise SystemExit(f"check_stack: the stream through nginx began with {kind!r}, not a snapshot")

        queue_url = stack_env["SQS_METADATA_QUEUE_URL"]
        sqs = boto3.client("sqs")
        sent_at = time.monotonic()
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({
            "session_id": SESSION, "event": "metadata_update", "operation": "update",
            "metadata": {"status": "deployed"}, "timestamp": "2024-01-26T10:30:45.123456"}))
        kind, data = next_event()
        if kind != "metadata" or json.loads(data)["metadata"] != {"status": "deployed"}:
            raise SystemExit(f"check_stack: expected the SQS update through nginx, got {kind}: {data}")
        latency = time.monotonic() - sent_at
        print(f"check_stack: SQS update reached the SSE client through nginx (HTTP/2, TLS, "
              f"uncompressed) {latency:.2f} s after send")

        # 4. A malformed message lands in the DLQ through the template's redrive policy.
        dlq_url = outputs["SQS_METADATA_DLQ_URL"]
        sqs.send_message(QueueUrl=queue_url, MessageBody="{not json")

        def in_dlq():
            return sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages")
        bodies = [m["Body"] for m in wait_for("the malformed message to reach the DLQ", in_dlq)]
        if bodies != ["{not json"]:
            raise SystemExit(f"check_stack: the DLQ holds {bodies}, not just the malformed message")
        print("check_stack: a malformed message reached the stack's DLQ by its redrive policy")

        # 5. The gateway watches that DLQ (SQS_METADATA_DLQ_URL from the outputs).
        def dlq_depth():
            status, body = get_json(f"{base}/ops/summary")
            dlq = (body.get("queues") or {}).get("dlq") if status == 200 else None
            return dlq and dlq["visible"] + dlq["in_flight"] >= 1
        wait_for("the DLQ's depth on /ops/summary", dlq_depth)
        print("check_stack: /ops/summary shows the message in the DLQ")
        return 0
    except (Exception, SystemExit) as err:
        for log in ("gateway.log", "nginx.log"):
            path = scratch / log
            if path.exists():
                print(f"--- {log} (tail)\n" + "".join(path.read_text().splitlines(True)[-15:]), file=sys.stderr)
        if isinstance(err, SystemExit):
            raise
        raise SystemExit(f"check_stack: {err!r}") from err
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    sys.exit(main())
