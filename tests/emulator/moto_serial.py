"""moto's server, applying one request at a time.

moto's own server is threaded and its DynamoDB backend takes no lock, so two
conditional writes racing on one item can both succeed. Real DynamoDB applies
each write to an item atomically. Here connections are still served by
threads (so clients keep their connections alive), but every request runs
under one lock, which gives the same guarantee the concurrency tests rely on.

Usage: python moto_serial.py [--host 127.0.0.1] --port PORT
"""

import argparse
import signal
import sys
import threading

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def serialized(app):
    lock = threading.Lock()

    def handle(environ, start_response):
        with lock:
            # Materialise the body inside the lock: the work happens here.
            return list(app(environ, start_response))

    return handle


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    app = serialized(DomainDispatcherApplication(create_backend_app))
    run_simple(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
