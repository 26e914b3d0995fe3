"""``cincopa-emulator`` / ``python -m airflow_provider_cincopa.emulator``: run the emulator."""

from __future__ import annotations

import argparse
import logging
import os
import sys

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
    parser.add_argument("--data-dir", help="persist assets and metadata in this folder")
    parser.add_argument("--gallery", action="append", default=[], help="a gallery fid that exists (repeatable)")
    parser.add_argument(
        "--extra-token",
        action="append",
        default=[],
        metavar="TOKEN=perm1|perm2",
        help="another token with limited permissions (repeatable)",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every API answer")
    parser.add_argument("--bandwidth", type=int, default=0, help="request-body bytes/s cap per connection")
    parser.add_argument("--max-assets", type=int, help="refuse uploads past this many assets")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("--token (or $CINCOPA_EMULATOR_TOKEN) is required")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
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
    )
    knobs: dict[str, object] = {"bandwidth": args.bandwidth, "max_assets": args.max_assets}
    if args.latency:
        knobs["latency"] = {"path_prefix": "/v2/", "seconds": args.latency}
    server.state.faults.configure(knobs)
    print(f"Cincopa emulator listening on {server.base_url}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
