"""``cincopa-emulator`` / ``python -m airflow_provider_cincopa.emulator``: run the emulator."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from airflow_provider_cincopa.emulator.server import EmulatorServer


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cincopa-emulator", description="A local Cincopa API v2 emulator.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one (default)")
    parser.add_argument(
        "--token",
        default=os.environ.get("CINCOPA_EMULATOR_TOKEN"),
        help="the account's api_token (default: $CINCOPA_EMULATOR_TOKEN)",
    )
    parser.add_argument("--data-dir", help="persist assets and metadata in this folder (default: a temp dir)")
    parser.add_argument("--gallery", action="append", default=[], metavar="FID", help="a gallery that exists")
    parser.add_argument(
        "--extra-token",
        action="append",
        default=[],
        metavar="TOKEN=perm1|perm2",
        help="another token with limited permissions, e.g. RO=ping|asset.list (repeatable)",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every API answer")
    parser.add_argument("--bandwidth", type=int, default=0, help="request-body bytes/s cap per request")
    parser.add_argument("--max-assets", type=int, help="refuse uploads past this many assets")
    parser.add_argument("--import-rate", type=int, default=0, help="bytes/s cap for upload_from_url downloads")
    parser.add_argument(
        "--discard-uploads",
        action="store_true",
        help="count uploaded bytes but keep none (benchmarks: the file reads back as zeros)",
    )
    parser.add_argument(
        "--http",
        choices=("auto", "httptools", "h11"),
        default="auto",
        help="HTTP parser: httptools when installed (default), else h11",
    )
    parser.add_argument(
        "--loop", choices=("auto", "uvloop", "asyncio"), default="auto", help="event loop: uvloop when installed"
    )
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("--token (or $CINCOPA_EMULATOR_TOKEN) is required")
    for spec in args.extra_token:
        if "=" not in spec or not spec.partition("=")[0]:
            parser.error(f"--extra-token {spec!r}: expected TOKEN=perm1|perm2")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s")
    extra = {}
    for spec in args.extra_token:
        token, _, perms = spec.partition("=")
        extra[token] = tuple(p for p in perms.split("|") if p)
    server = EmulatorServer(
        args.token,
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        galleries=tuple(args.gallery),
        extra_tokens=extra,
        http=args.http,
        loop=args.loop,
        latency=args.latency,
        bandwidth=args.bandwidth,
        max_assets=args.max_assets,
        import_rate=args.import_rate,
        discard_uploads=args.discard_uploads,
    )
    # Our own handlers, not uvicorn's: uvicorn re-raises the signal after shutting down, which
    # would kill the process before the temp data dir is removed.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(f"Cincopa emulator listening on {server.base_url}", flush=True)
    try:
        while not stop.wait(0.5):
            if not server.is_running():
                logging.getLogger(__name__).error("the server thread died")
                return 1
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
