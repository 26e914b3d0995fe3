"""
The example DAGs against a real Cincopa account (``CINCOPA_LIVE_TOKEN``; ``CINCOPA_LIVE_HOST``
for another API base URL). Skipped without a token.

Each DAG file is run as shipped except for what would touch the account's own media: the
``airflow-example`` tag becomes the run's tag and a fixed reference_id gets the run's prefix, so
the session finalizer (conftest.py) finds and deletes everything the run made, even after a
failure. ``cincopa_on_new_asset`` is left out: it runs only from an asset watcher in a deployment.

Optional: ``CINCOPA_LIVE_VIDEO``, a short real video (the ingest DAG waits until Cincopa has
transcoded it); ``CINCOPA_LIVE_SOURCE_URL``, a public media URL Cincopa can import.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.system.conftest import LIVE_TOKEN, NO_TOKEN, LiveRun

if not LIVE_TOKEN:
    pytest.skip(NO_TOKEN, allow_module_level=True)

from tests.conftest import DAGS_FOLDER
from tests.support import dag_bag, dag_test, make_file, task_states, xcom

# Airflow's SQLite database and dag.test(), against the account instead of the emulator.
# Real transcoding takes minutes: the media ingest DAG's own sensor waits up to 2 hours.
pytestmark = [pytest.mark.emulator, pytest.mark.timeout(3 * 60 * 60)]

EXAMPLES = Path(__file__).parent.parent.parent / "example_dags"
EXAMPLE_TAG = '"airflow-example"'


def run_example(dag_id: str, replacements: dict[str, str], **params: object):
    """Run the example DAG with ``replacements`` made in its source; each must be found there."""
    source = (EXAMPLES / f"{dag_id}.py").read_text()
    for old, new in replacements.items():
        assert old in source, f"{dag_id} no longer has {old}: update the live suite's replacements"
        source = source.replace(old, new)
    target = DAGS_FOLDER / f"{dag_id}.py"
    target.write_text(source)
    bag = dag_bag(target)
    assert not bag.import_errors, bag.import_errors
    return dag_test(bag, dag_id, run_conf=params)


@pytest.fixture
def hook(live_run: LiveRun):
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    h = CincopaHook()
    yield h
    h.close()


def tagged(hook, run: LiveRun) -> list[dict]:
    return list(hook.list_assets(tag=run.tag))


def test_media_ingest(live_run, airflow_db, hook):
    video = os.environ.get("CINCOPA_LIVE_VIDEO")
    if not video:
        pytest.skip("CINCOPA_LIVE_VIDEO is not set: the DAG waits until Cincopa has transcoded a real video")
    reference_id = f"{live_run.tag}-cms-sample-video"
    live_run.reference_ids.append(reference_id)
    dr = run_example(
        "cincopa_media_ingest",
        {EXAMPLE_TAG: f'"{live_run.tag}"', '"cms-sample-video"': f'"{reference_id}"'},
        video_path=video,
        webhook_url=live_run.webhook_url,
    )
    assert dr.state == "success", task_states(dr)
    [asset] = hook.find_assets_by_reference_id(reference_id)
    assert xcom(dr, "report")["rid"] == asset["rid"] and live_run.tag in asset["tags"]
    assert live_run.webhook_url in [w["hook_url"] for w in hook.list_webhooks()]


def test_ingest_from_url(live_run, airflow_db, hook):
    url = os.environ.get("CINCOPA_LIVE_SOURCE_URL")
    if not url:
        pytest.skip("CINCOPA_LIVE_SOURCE_URL is not set: Cincopa imports only from a URL it can reach")
    # The DAG uses the URL as the asset's reference_id: the run's tag in it keeps it the run's own.
    url += ("&" if "?" in url else "?") + f"airflow_run={live_run.tag}"
    live_run.reference_ids.append(url)
    tags = '"airflow-example,imported"'
    dr = run_example("cincopa_ingest_from_url", {tags: f'"{live_run.tag},imported"'}, source_url=url)
    assert dr.state == "success", task_states(dr)
    [asset] = hook.find_assets_by_reference_id(url)
    assert asset["rid"] == xcom(dr, "wait_for_asset") and live_run.tag in asset["tags"]


def test_bulk_ingest(live_run, airflow_db, hook, tmp_path):
    folder = tmp_path / live_run.tag  # the files' URLs, their reference ids, carry the run's tag
    folder.mkdir()
    names = [f"{live_run.tag}-v{i}.mp4" for i in range(3)]
    for i, name in enumerate(names):
        make_file(folder / name, 1000 * (i + 1), seed=i)
    dr = run_example("cincopa_bulk_ingest", {EXAMPLE_TAG: f'"{live_run.tag}"'}, source_folder=f"file://{folder}")
    assert dr.state == "success", task_states(dr)
    assert sorted(a["filename"] for a in tagged(hook, live_run) if a["filename"] in names) == names


def test_gallery(live_run, airflow_db, hook, tmp_path):
    name = f"{live_run.tag} showcase"
    live_run.galleries.append(name)
    featured = []
    for i in range(2):
        path = tmp_path / f"{live_run.tag}-featured{i}.mp4"
        make_file(path, 500, seed=10 + i)
        featured.append(hook.upload_file(str(path)).rid)
        live_run.rids.append(featured[-1])  # untagged until the next line
        hook.set_meta(featured[-1], tags=f"{live_run.tag},{live_run.tag}-featured")
    video = tmp_path / f"{live_run.tag}-showcase.mp4"
    make_file(video, 3000)
    dr = run_example(
        "cincopa_gallery",
        {EXAMPLE_TAG: f'"{live_run.tag}"'},
        gallery_name=name,
        video_path=str(video),
        feature_tag=f"{live_run.tag}-featured",
        retire_tag=f"{live_run.tag}-retired",
    )
    assert dr.state == "success", task_states(dr)
    report = xcom(dr, "report")
    [gallery] = hook.find_galleries(name)
    assert report["fid"] == gallery["fid"] and sorted(report["rids"][1:]) == sorted(featured)


def test_cleanup_example_deletes_what_the_run_made(live_run, airflow_db, hook):
    """Last: the cleanup DAG itself, by the run's tag (the session finalizer checks the rest)."""
    dr = run_example("cincopa_cleanup", {}, tag=live_run.tag, webhook_url=live_run.webhook_url)
    assert dr.state == "success", task_states(dr)
    assert tagged(hook, live_run) == []
    assert live_run.webhook_url not in [w["hook_url"] for w in hook.list_webhooks()]
