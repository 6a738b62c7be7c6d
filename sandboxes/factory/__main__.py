"""`python -m sandboxes.factory`: the sandbox factory as its own process,
without Django (benchmarks, fault drills). Prints `listening on <url>` and runs
until SIGTERM/SIGINT. `manage.py run_sandbox_factory` is the Django-aware variant
(it can also register the factory as a provider)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from sandboxes.factory.factory import FAULT_MODES, Config, SandboxFactory
from sandboxes.factory.server import SandboxFactoryServer


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m sandboxes.factory")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8020)
    ap.add_argument("--api-key", default="sandbox-factory-key")
    ap.add_argument("--webhook-secret", default="sandbox-factory-secret")
    ap.add_argument("--callback-url", default="", help="where status webhooks go (none: off)")
    ap.add_argument("--step-seconds", type=float, default=20.0)
    ap.add_argument("--fault", choices=FAULT_MODES, default="none",
                    help="start in this fault mode (switch at runtime: POST /_faults)")
    ap.add_argument("--hang-seconds", type=float, default=30.0,
                    help='how long a call hangs in "timeout" mode')
    args = ap.parse_args(argv)
    factory = SandboxFactory(api_key=args.api_key, webhook_secret=args.webhook_secret,
                             callback_url=args.callback_url,
                             config=Config(step_seconds=args.step_seconds, fault=args.fault,
                                           hang_seconds=args.hang_seconds))
    server = SandboxFactoryServer(factory, host=args.host, port=args.port).start()
    sys.stdout.write(f"listening on {server.url}\n")
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    if args.callback_url:
        factory.run_clock(stop, every=1.0)
    else:
        stop.wait()
    server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
