"""
The live suite's set-up: the ``cincopa_default`` connection from ``CINCOPA_LIVE_TOKEN`` (and
``CINCOPA_LIVE_HOST``), a unique run tag, and a finalizer that deletes everything tagged with it.

Without ``CINCOPA_LIVE_TOKEN`` every module here skips itself at collection (reported as
skipped, never as passed). See docs/probe.md.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import AIRFLOW_HOME

if TYPE_CHECKING:
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

LIVE_TOKEN = os.environ.get("CINCOPA_LIVE_TOKEN", "")
LIVE_HOST = os.environ.get("CINCOPA_LIVE_HOST", "")
#: The reason every live module gives when it skips itself.
NO_TOKEN = "CINCOPA_LIVE_TOKEN is not set: the live suite needs a Cincopa account (docs/probe.md)"


@dataclass
class LiveRun:
    """
    What one session of the live suite makes, to be found and deleted afterwards.

    :param tag: every asset the suite makes carries it (its reference ids start with it too).
    """

    tag: str
    galleries: list[str] = field(default_factory=list)  # names
    webhooks: list[str] = field(default_factory=list)  # hook_urls
    reference_ids: list[str] = field(default_factory=list)  # of assets tagged late, if at all
    rids: list[str] = field(default_factory=list)  # uploaded by the tests themselves, tagged after

    @property
    def webhook_url(self) -> str:
        # Nothing listens there: the suite only registers and deletes it.
        url = f"https://example.invalid/{self.tag}"
        if url not in self.webhooks:
            self.webhooks.append(url)
        return url


@pytest.fixture(scope="session")
def live_run() -> Iterator[LiveRun]:
    """
    The run's tag and the ``cincopa_default`` connection to the live account, for the whole
    session; at its end (whatever failed) every asset tagged with the run tag or carrying one of
    its reference ids, its galleries and its webhooks are deleted, then checked gone.
    """
    conn = {"conn_type": "cincopa", "password": LIVE_TOKEN, **({"host": LIVE_HOST} if LIVE_HOST else {})}
    old = os.environ.get("AIRFLOW_CONN_CINCOPA_DEFAULT")
    os.environ["AIRFLOW_CONN_CINCOPA_DEFAULT"] = json.dumps(conn)
    run = LiveRun(tag=f"airflow-system-{secrets.token_hex(4)}")
    try:
        yield run
    finally:
        try:
            left = clean_up(run)
        finally:
            if old is None:
                os.environ.pop("AIRFLOW_CONN_CINCOPA_DEFAULT", None)
            else:
                os.environ["AIRFLOW_CONN_CINCOPA_DEFAULT"] = old
        assert not left, f"the live suite left these behind: {left}"
        leaks = [str(p) for p in Path(AIRFLOW_HOME).rglob("*") if p.is_file() and LIVE_TOKEN.encode() in p.read_bytes()]
        assert not leaks, f"the live token leaked into {leaks}"


def clean_up(run: LiveRun) -> list[str]:
    """Delete what ``run`` made; return what is still there afterwards (empty when all went)."""
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    hook = CincopaHook()
    try:
        for name in run.galleries:
            for gallery in hook.find_galleries(name):
                hook.delete_gallery(gallery["fid"], delete_assets=False, missing_ok=True)
        for url in run.webhooks:
            hook.delete_webhook(url, missing_ok=True)
        for rid in made_by(hook, run):
            hook.delete_asset(rid, missing_ok=True)
        left = [f"asset {rid}" for rid in made_by(hook, run)]
        left += [f"gallery {g['fid']}" for name in run.galleries for g in hook.find_galleries(name)]
        left += [f"webhook {w['hook_url']}" for w in hook.list_webhooks() if w["hook_url"] in run.webhooks]
        return left
    finally:
        hook.close()


def made_by(hook: CincopaHook, run: LiveRun) -> set[str]:
    """The rids of every asset of the run still there: tagged with its tag, with its reference ids, its own."""
    rids = {a["rid"] for a in hook.list_assets(tag=run.tag)}
    rids |= {rid for rid in run.rids if hook.asset_exists(rid)}
    for reference_id in run.reference_ids:
        rids |= {a["rid"] for a in hook.find_assets_by_reference_id(reference_id)}
    return rids
