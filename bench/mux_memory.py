"""PSS per idle multiplexed stream (POST /v1/events, two sessions each, as the SDK opens
it), and how many of them the gateway served on its lean path (`connection: close`).

    python3 bench/mux_memory.py target/release/gateway 5000
"""
import os
import resource
import socket
import subprocess
import sys
import time

hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
binary, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
env = dict(PATH=os.environ["PATH"], LISTEN_ADDR=f"127.0.0.1:{port}", RUST_LOG="warn",
           MAX_STREAMS_PER_CLIENT="1000000", MAX_STREAMS="1000000", POST_RATE_PER_MINUTE="0")
gw = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
def pss():
    for line in open(f"/proc/{gw.pid}/smaps_rollup"):
        if line.startswith("Pss:"):
            return int(line.split()[1])
for _ in range(100):
    try:
        socket.create_connection(("127.0.0.1", port)).close(); break
    except OSError:
        time.sleep(0.1)
time.sleep(1)
before = pss()
conns = []
for i in range(n):
    c = socket.create_connection(("127.0.0.1", port))
    body = ('{"sessions":["s%d","t%d"]}' % (i % 50, i % 50)).encode()
    c.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    conns.append(c)
lean = 0
for c in conns:
    head = c.recv(4096)
    if b"connection: close" in head.lower():
        lean += 1
time.sleep(5)
after = pss()
print(f"{binary}: {n} POST /v1/events streams, {(after-before)/n:.1f} KiB PSS per connection, lean path: {lean}/{n}")
gw.kill()
