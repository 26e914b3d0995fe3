"""
Benchmark: N ``CincopaAssetEventTrigger`` watchers (each with a tag filter of its own) on one
connection and poll interval, for a number of polls in which nothing new arrives, then one new
asset per watcher's tag: each watcher polling on its own (``run()``, Airflow 3.0-3.2) against one
shared poll (Airflow 3.3's ``SharedStreamManager``, ``filter_shared_stream``).

    .venv/bin/python benchmarks/asset_watch_benchmark.py [--watchers 50] [--polls 10]

Starts the emulator on loopback with 200 assets. Prints, per mode, the asset.list requests the
emulator saw, the items they returned, the events fired, and this process's CPU seconds. For a
person to read; no test asserts on these numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

INTERVAL = 0.5


class _Store:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def aget(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    async def aset(self, key: str, value: Any) -> None:
        self.values[key] = value


def _list_requests(root: str) -> list[dict[str, Any]]:
    state = json.load(urllib.request.urlopen(f"{root}/_emulator/state"))
    return [r for r in state["requests"] if r["path"].endswith("asset.list.json")]


async def _run(mode: str, watchers: int, polls: int, add_tagged: Any) -> float:
    from airflow_provider_cincopa.triggers.cincopa import CincopaAssetEventTrigger

    triggers = [CincopaAssetEventTrigger(tag=f"w{i}", poll_interval=INTERVAL) for i in range(watchers)]
    fired: list[str] = []
    manager = None
    if mode == "shared":
        from airflow.triggers.shared_stream import SharedStreamManager

        manager = SharedStreamManager()

    async def drain(i: int, trigger: CincopaAssetEventTrigger) -> None:
        trigger.asset_state_store = _Store()
        if manager is not None:
            stream = trigger.filter_shared_stream(
                manager.subscribe(trigger_id=i, trigger=trigger, key=trigger.shared_stream_key())
            )
        else:
            stream = trigger.run()
        async for event in stream:
            fired.append(event.payload["rid"])

    cpu = time.process_time()
    tasks = [asyncio.create_task(drain(i, t)) for i, t in enumerate(triggers)]
    await asyncio.sleep(INTERVAL * polls)
    for i in range(watchers):
        await asyncio.to_thread(add_tagged, f"w{i}")
    while len(fired) < watchers:
        await asyncio.sleep(0.1)
    cpu = time.process_time() - cpu
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if manager is not None:
        await manager.stop_all()
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--watchers", type=int, default=50)
    parser.add_argument("--polls", type=int, default=10)
    args = parser.parse_args()

    from airflow_provider_cincopa.emulator.testing import EmulatorProcess

    token = "bench-" + os.urandom(8).hex()
    with tempfile.TemporaryDirectory() as home, EmulatorProcess(token=token) as emulator:
        os.environ.setdefault("AIRFLOW_HOME", home)
        os.environ["AIRFLOW_CONN_CINCOPA_DEFAULT"] = json.dumps(
            {"conn_type": "cincopa", "password": token, "host": emulator.base_url}
        )
        from airflow_provider_cincopa.hooks.cincopa import CincopaHook

        hook = CincopaHook()
        folder = Path(home) / "files"
        folder.mkdir()

        def add(name: str, tags: str | None = None) -> str:
            path = folder / f"{name}-{os.urandom(3).hex()}.mp4"
            path.write_bytes(os.urandom(100))
            rid = hook.upload_file(str(path)).rid
            if tags:
                hook.set_meta(rid, tags=tags)
            return rid

        for i in range(200):
            add(f"old{i}")
        root = emulator.base_url.split("/v2/")[0]
        print(f"{args.watchers} watchers, each with its own tag; {args.polls} empty polls of {INTERVAL} s, then")
        print("one new asset per watcher. Requests and items are the asset.list calls the emulator saw.")
        print("| mode | asset.list requests | items requested | events | CPU s (this process) |")
        print("|---|---|---|---|---|")
        for mode in ("separate", "shared"):
            before = len(_list_requests(root))
            cpu = asyncio.run(_run(mode, args.watchers, args.polls, lambda tag: add("new", tags=tag)))
            after = _list_requests(root)[before:]
            requests = len(after)
            items = sum(int(r["query"].get("items_per_page", 0)) for r in after)
            print(f"| {mode} | {requests} | {items} | {args.watchers} | {cpu:.2f} |")
        hook.close()


if __name__ == "__main__":
    main()
