"""A trigger's hook masks the api_token with the async masker where Airflow has one, never the sync one on the loop."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import TOKEN
from tests.support import airflow_version

pytestmark = pytest.mark.emulator


def on_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_the_async_path_masks_the_token_without_a_sync_sdk_call_on_the_event_loop(emulator, monkeypatch):
    import airflow.sdk.log as sdk_log

    from airflow_provider_cincopa import redaction
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    # A process that has not seen the token yet, as a triggerer starting up.
    monkeypatch.setattr(redaction, "_known", set())
    calls: list[tuple[str, object, bool]] = []
    sync_mask = sdk_log.mask_secret

    def recording_mask(secret, name=None):
        calls.append(("sync", secret, on_event_loop()))
        sync_mask(secret, name)

    monkeypatch.setattr(sdk_log, "mask_secret", recording_mask)
    async_mask = getattr(sdk_log, "amask_secret", None)
    if async_mask is not None:

        async def recording_amask(secret, name=None):
            calls.append(("async", secret, on_event_loop()))
            await async_mask(secret, name)

        monkeypatch.setattr(sdk_log, "amask_secret", recording_amask)

    async def poll() -> dict:
        hook = CincopaHook()
        try:
            return await hook.acall("ping", {})
        finally:
            await hook.aclose()

    assert asyncio.run(poll())["success"] is True
    ours = [call for call in calls if call[1] == TOKEN]
    assert [call for call in ours if call[0] == "sync" and call[2]] == [], "a sync masker call on the event loop"
    if airflow_version() >= (3, 3):
        assert ("async", TOKEN, True) in ours
    else:
        assert ("sync", TOKEN, False) in ours, "below 3.3: the sync masker, in a worker thread"
    assert redaction.redact(f"token {TOKEN}") == "token ***"
