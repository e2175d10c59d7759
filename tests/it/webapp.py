"""A small web application for the deploy tests, run as a release would be.

    python3 webapp.py DEPLOY_TO HOST PORT

At start it reads the release `DEPLOY_TO/current` points to (as Puma or Unicorn
resolve `current` when they start) and serves it until it stops:

    GET /        200 `<revision> <release>`, after DELAY_MS (default 20) ms, so
                 that requests are in flight when a host is drained
    GET /health  200 {"revision": …, "release": …}, or 500 when the release
                 holds a file named BROKEN

It writes its pid to DEPLOY_TO/app.pid. On SIGTERM (a restart) it stops
accepting connections, finishes the requests in flight and exits; the test
harness starts it again after a gap, during which the port refuses
connections: only a load balancer that drained the host first hides that.
"""

import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

root, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
delay = int(os.environ.get("DELAY_MS", "20")) / 1000.0

current = os.path.realpath(os.path.join(root, "current"))
release = os.path.basename(current)
try:
    with open(os.path.join(current, "REVISION")) as f:
        revision = f.readline().strip()
except OSError:
    revision = "none"
broken = os.path.exists(os.path.join(current, "BROKEN"))


class Handler(BaseHTTPRequestHandler):
    # HTTP/1.0: one request per connection, so a stop never cuts a kept-alive one.
    protocol_version = "HTTP/1.0"
    # A connection that never sends its request (a check, a client that went
    # away) times out: the stop joins request threads, and must not wait on one.
    timeout = 1

    def do_GET(self):
        if self.path == "/health":
            status = 500 if broken else 200
            body = json.dumps({"revision": revision, "release": release}).encode()
            kind = "application/json"
        else:
            time.sleep(delay)
            status, body, kind = 200, f"{revision} {release}\n".encode(), "text/plain"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    # Request threads are joined when the server closes: in-flight requests finish.
    daemon_threads = False
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # A client that went away (the test ended) is no error of the app's.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


server = Server((host, port), Handler)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
with open(os.path.join(root, "app.pid.tmp"), "w") as f:
    f.write(f"{os.getpid()}\n")
os.replace(os.path.join(root, "app.pid.tmp"), os.path.join(root, "app.pid"))
threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
# A timed wait: the handler runs within 50 ms, whatever the main thread was blocked in.
while not stop.wait(0.05):
    pass
# A restart must not wait on a request thread that hangs (a loaded machine, a
# client that stalls mid-request): past 2 s, the app exits anyway.
deadline = threading.Timer(2.0, lambda: os._exit(0))
deadline.daemon = True
deadline.start()
server.shutdown()
server.server_close()
