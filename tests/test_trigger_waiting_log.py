"""A waiting trigger logs "still running" once a minute, not once a poll (a triggerer's log pipe is shared)."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_cincopa.triggers import _polling
from airflow_provider_cincopa.triggers.cincopa import CincopaUploadStatusTrigger


@pytest.mark.slow
def test_still_running_is_logged_once_per_interval_however_often_it_polls(emulator, media_server, capfd):
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    emulator.faults(import_rate=100_000)  # ~2 s for the file: a few dozen polls at 0.05 s
    hook = CincopaHook()
    status_id = hook.upload_from_url(media_server.add("slow.mp4", b"s" * 200_000))
    hook.close()
    trigger = CincopaUploadStatusTrigger(status_id=status_id, poll_interval=0.05)

    async def first_event():
        async for event in trigger.run():
            return event

    capfd.readouterr()
    event = asyncio.run(first_event())
    printed = capfd.readouterr()
    polls = [r for r in emulator.requests() if r["path"].endswith("asset.upload_from_url_get_status.json")]
    waiting = [line for line in (printed.out + printed.err).splitlines() if "still running" in line]
    assert event.payload["status"] == "success"
    assert len(polls) >= 5, "the import was still running for several polls"
    assert len(waiting) == 1, f"{len(waiting)} 'still running' lines for {len(polls)} polls"


class ClockedTrigger(CincopaUploadStatusTrigger):
    """The upload-status trigger on a clock the test moves."""

    now = 0.0

    def _waiting_clock(self) -> float:
        return self.now


def test_still_running_is_logged_again_each_time_the_interval_has_passed(capfd):
    trigger = ClockedTrigger(status_id="st")
    interval = _polling.WAITING_LOG_INTERVAL
    logged_at = []
    for now in (0.0, 1.0, interval - 0.1, interval, interval + 1.0, 2 * interval - 0.1, 2 * interval + 5.0):
        trigger.now = now
        capfd.readouterr()
        trigger._log_waiting("Import %s still running", "st")
        printed = capfd.readouterr()
        if "Import st still running" in printed.out + printed.err:
            logged_at.append(now)
    assert logged_at == [0.0, interval, 2 * interval + 5.0]
