"""
The hook speaks the way Cincopa's clients do, over real HTTP against the emulator: the verb of
every method (checked against docs/api-coverage.md), every documented answer shape (the
emulator's ``answer_shapes`` knob), and playback links with no secret in them.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import httpx
import pytest

from airflow_provider_cincopa.exceptions import CincopaApiError, CincopaInputError
from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from tests.conftest import TOKEN

COVERAGE = Path(__file__).parent.parent / "docs" / "api-coverage.md"
ROW = re.compile(r"^\| `(?P<method>[a-z_]+\.[a-z_.]+|ping)` \| (?P<verb>GET|POST) \|", re.MULTILINE)


def documented_verbs() -> dict[str, str]:
    return {m["method"]: m["verb"] for m in ROW.finditer(COVERAGE.read_text())}


def upload(hook: CincopaHook, tmp_path: Path, name: str = "clip.mp4", data: bytes = b"v" * 1000) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return hook.upload_file(str(path)).rid


def every_method(hook: CincopaHook, tmp_path: Path, media_url: str) -> None:
    """Call every API v2 method the hook has."""
    hook.ping()
    hook.get_temp_token(ttl=60, permissions="asset.list")
    hook.get_upload_token(gallery_fid="GALLERY00001", ttl=60)
    hook.upload_iframe_url(gallery_fid="GALLERY00001")
    rid = upload(hook, tmp_path)
    hook.get_playback_links(rid)
    hook.get_tags()
    hook.set_meta(rid, caption="c")
    hook.resync_asset(rid)
    status_id = hook.upload_from_url(media_url)
    hook.get_upload_from_url_status(status_id)
    hook.abort_upload_from_url(status_id)
    hook.check_portal("fidelity")
    hook.cease_portal("fidelity")
    hook.set_portal("fidelity", title="t")
    hook.rename_portal("fidelity", "fidelity2")
    hook.list_portals()
    hook.remove_portal("fidelity2")
    hook.set_webhook("http://127.0.0.1:9/h", security_key="fidelitykey")
    hook.set_slack_webhook("https://hooks.slack.example/T/B/X", slack_channel="#c")
    hook.list_webhooks()
    hook.delete_webhook("http://127.0.0.1:9/h")
    fid = hook.create_gallery("fidelity")
    list(hook.list_galleries())
    hook.add_to_gallery(fid, rid)
    list(hook.get_gallery_items(fid))
    hook.remove_from_gallery(fid, rid)
    hook.set_gallery_meta(fid, description="d")
    hook.delete_gallery(fid)
    hook.delete_asset(rid)


def test_every_method_goes_out_with_the_verb_the_coverage_table_gives(hook, emulator, tmp_path, media_server):
    every_method(hook, tmp_path, media_server.add("fidelity.mp4", b"f" * 5000))
    table = documented_verbs()
    sent: dict[str, set[str]] = {}
    for request in emulator.requests("/v2/"):
        sent.setdefault(request["path"].removeprefix("/v2/").removesuffix(".json"), set()).add(request["method"])
        assert request["body_length"] == 0, f"{request['path']}: parameters go in the query string"
    assert "upload.iframe" not in sent, "the iframe URL is built for a browser, not fetched"
    assert set(sent) - set(table) == set(), "every method the hook calls has a row in docs/api-coverage.md"
    assert {m: verbs for m, verbs in sent.items() if verbs != {table[m]}} == {}
    # The two the issue names, spelled out: every public client sends them as GET.
    assert sent["token.get_temp"] == sent["upload.get_upload_token"] == {"GET"}


def test_coverage_table_has_a_status_for_every_row():
    text = COVERAGE.read_text()
    rows = [line for line in text.splitlines() if ROW.match(line)]
    assert len(rows) >= 29, "22 API v2 methods and 7 gallery methods"
    for row in rows:
        status = row.split("|")[5]
        assert re.search(r"confirmed|assumed", status), row


# -- webhook.list: arrays or objects ----------------------------------------------------------


@pytest.mark.parametrize("shape", ["objects", "arrays"])
def test_webhooks_are_read_as_objects_or_arrays(hook, emulator, shape):
    hook.set_webhook("http://127.0.0.1:9/a", security_key="shapekey01", events="asset.*")
    hook.set_slack_webhook("https://hooks.slack.example/T0/B0/X", slack_channel="#media")
    emulator.faults(answer_shapes={"webhook.list": shape})
    raw = emulator_answer(emulator, "webhook.list")["webhooks"]
    assert all(isinstance(item, dict if shape == "objects" else list) for item in raw), raw

    listed = {w["hook_url"]: w for w in hook.list_webhooks()}
    assert sorted(listed) == ["http://127.0.0.1:9/a", "https://hooks.slack.example/T0/B0/X"]
    assert listed["http://127.0.0.1:9/a"]["events"] == "asset.*"
    assert "shapekey01" not in json.dumps(list(listed.values()))

    assert hook.delete_webhook("http://127.0.0.1:9/a", missing_ok=True) is True
    assert hook.delete_webhook("http://127.0.0.1:9/a", missing_ok=True) is False, "gone: missing_ok says so"
    with pytest.raises(CincopaApiError, match="webhook not found"):
        hook.delete_webhook("http://127.0.0.1:9/a")
    assert [w["hook_url"] for w in hook.list_webhooks()] == ["https://hooks.slack.example/T0/B0/X"]


def test_delete_webhook_missing_ok_finds_a_url_anywhere_in_an_array(hook, emulator):
    # An array whose first element is not the URL: the refusal is still told apart from "missing".
    hook.set_webhook("http://127.0.0.1:9/kept", security_key="shapekey02")
    body = {"success": True, "webhooks": [["42", "asset.*", "http://127.0.0.1:9/kept"]]}
    emulator.faults(
        malformed=[{"path_prefix": "/v2/webhook.list", "status": 200, "body": json.dumps(body), "times": 2}],
        fail=[{"path_prefix": "/v2/webhook.delete", "status": 200, "body": '{"success": false, "message": "busy"}'}],
    )
    [hook_entry] = hook.list_webhooks()
    assert hook_entry["hook_url"] == "http://127.0.0.1:9/kept" and hook_entry["values"][0] == "42"
    with pytest.raises(CincopaApiError, match="busy"):
        hook.delete_webhook("http://127.0.0.1:9/kept", missing_ok=True)


# -- asset.get_tags: a mapping or a list ------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ("mapping", {"news": 2, "sport": 1}),
        ("objects", {"news": 2, "sport": 1}),
        ("pairs", {"news": 2, "sport": 1}),
        ("names", {"news": None, "sport": None}),  # a bare list says nothing of counts
    ],
)
def test_tags_are_read_in_every_shape(hook, emulator, tmp_path, shape, expected):
    for name, tags in (("a.mp4", "news,sport"), ("b.mp4", "news")):
        hook.set_meta(upload(hook, tmp_path, name), tags=tags)
    emulator.faults(answer_shapes={"asset.get_tags": shape})
    raw = emulator_answer(emulator, "asset.get_tags")["tag_cloud"]
    assert isinstance(raw, dict if shape == "mapping" else list)
    assert hook.get_tags() == expected


def test_a_tag_cloud_of_no_known_shape_is_logged_not_fatal(hook, emulator, caplog):
    body = json.dumps({"success": True, "tag_cloud": "news,sport"})
    emulator.faults(malformed=[{"path_prefix": "/v2/asset.get_tags", "status": 200, "body": body}])
    with caplog.at_level(logging.WARNING, logger="airflow_provider_cincopa.hooks._answers"):
        assert hook.get_tags() == {}
    assert "asset.get_tags: tag_cloud is a str, neither a mapping nor a list" in caplog.text


@pytest.mark.parametrize(
    ("knob", "named"),
    [({"webhook.list": "xml"}, "'xml'"), ({"asset.nope": "mapping"}, "'asset.nope'")],
)
def test_emulator_refuses_an_unknown_answer_shape(emulator, knob, named):
    answer = httpx.post(f"{emulator.root}/_emulator/faults", json={"answer_shapes": knob}, timeout=10)
    assert answer.status_code == 400
    assert named in answer.json()["message"] and "known" in answer.json()["message"]


def emulator_answer(emulator, method: str) -> dict:
    return httpx.get(f"{emulator.base_url}{method}.json", params={"api_token": emulator.token}, timeout=10).json()


# -- playback links ---------------------------------------------------------------------------


def test_playback_links_of_a_video(hook, emulator, tmp_path):
    rid = upload(hook, tmp_path, "launch.mp4")
    links = hook.get_playback_links(rid)
    assert links.rid == rid and links.type == "video" and links.syncstatus == "synced"
    assert links.hls_url == f"https://rtcdn.cincopa.com/m3u8.aspx?rid={rid}"
    assert links.direct_url == (
        f"https://www.cincopa.com/media-platform/api/get_version_url.aspx?rid={rid}"
        "&ver=ts_1080,ts_720p,ts_540p,ts_480,ts_360p,mp4_hd,ts_240p,ts_144p"
    )
    [item] = emulator_answer(emulator, "asset.list")["items"]
    assert set(links.versions) == set(item["versions"]) >= {"original", "ts_720p", "mp4_hd"}
    hd = links.versions["ts_720p"]
    assert (hd.name, hd.mime, hd.url) == ("720p", "application/x-mpegURL", item["versions"]["ts_720p"]["url"])
    assert hd.filesize == int(item["versions"]["ts_720p"]["filesize"])
    assert hd.direct_url.endswith(f"get_version_url.aspx?rid={rid}&ver=ts_720p")
    as_xcom = json.dumps(links.to_dict())
    assert json.loads(as_xcom)["versions"]["mp4_hd"]["key"] == "mp4_hd"
    assert TOKEN not in as_xcom and "api_token" not in as_xcom
    [request] = [r for r in emulator.requests("/v2/asset.list") if r["query"].get("rid") == rid][-1:]
    assert request["method"] == "GET"


def test_playback_links_priority_and_non_video(hook, tmp_path):
    rid = upload(hook, tmp_path, "poster.jpg")
    links = hook.get_playback_links(rid, version_priority=["mp4_hd", " ts_720p "])
    assert links.type == "image" and links.hls_url is None, "HLS manifests are for videos"
    assert links.direct_url.endswith(f"?rid={rid}&ver=mp4_hd,ts_720p")
    assert "original" in links.versions and not any(k.startswith(("ts_", "mp4")) for k in links.versions)
    with pytest.raises(CincopaInputError, match="version_priority is empty"):
        hook.get_playback_links(rid, version_priority="")
    with pytest.raises(CincopaApiError, match="No Cincopa asset has rid 'NOSUCHASSET1'"):
        hook.get_playback_links("NOSUCHASSET1")


def test_a_version_url_carrying_a_secret_is_never_handed_on(hook, emulator, caplog):
    item = {
        "rid": "SIGNEDASSET1",
        "type": "video",
        "syncstatus": "synced",
        "versions": {
            "mp4_hd": {
                "name": "hd",
                "mime": "video/mp4",
                "filesize": "10",
                "url": "https://cdn.x/v.mp4?token=SECRET123",
            },
            "ts_720p": {"name": "720p", "mime": "application/x-mpegURL", "url": "https://cdn.x/v.m3u8"},
        },
    }
    body = json.dumps({"success": True, "items": [item], "items_data": {"page": 1, "pages_count": 1}})
    emulator.faults(malformed=[{"path_prefix": "/v2/asset.list", "status": 200, "body": body}])
    with caplog.at_level(logging.WARNING, logger="airflow_provider_cincopa.hooks._answers"):
        links = hook.get_playback_links("SIGNEDASSET1")
    assert links.versions["mp4_hd"].url is None and links.versions["ts_720p"].url == "https://cdn.x/v.m3u8"
    assert links.versions["mp4_hd"].filesize == 10 and links.versions["ts_720p"].filesize is None
    assert "SECRET123" not in json.dumps(links.to_dict())
    assert "version mp4_hd of SIGNEDASSET1 has a URL with a secret in it" in caplog.text


def test_playback_operator_hands_links_on_through_xcom(emulator, airflow_db, tmp_path):
    from tests.conftest import DAGS_FOLDER
    from tests.support import run_dag, task_states, xcom

    video = tmp_path / "xcom.mp4"
    video.write_bytes(b"x" * 4000)
    dr = run_dag(
        DAGS_FOLDER,
        "fidelity_playback",
        f"""
        from datetime import datetime
        from airflow.sdk import DAG, task
        from airflow_provider_cincopa.operators.cincopa import CincopaUploadFileOperator
        from airflow_provider_cincopa.operators.playback import CincopaGetPlaybackLinksOperator

        with DAG("fidelity_playback", schedule=None, start_date=datetime(2026, 1, 1)):
            up = CincopaUploadFileOperator(task_id="up", source_path={str(video)!r})
            links = CincopaGetPlaybackLinksOperator(task_id="links", rid=up.output, version_priority="mp4_hd")

            @task
            def publish(links: dict) -> str:
                return links["hls_url"] + " " + links["versions"]["mp4_hd"]["direct_url"]

            publish(links.output)
        """,
    )
    assert dr.state == "success", task_states(dr)
    [asset] = emulator.assets()
    links = xcom(dr, "links")
    assert links["rid"] == asset["rid"] and links["direct_url"].endswith("&ver=mp4_hd")
    assert xcom(dr, "publish") == (
        f"https://rtcdn.cincopa.com/m3u8.aspx?rid={asset['rid']} "
        f"https://www.cincopa.com/media-platform/api/get_version_url.aspx?rid={asset['rid']}&ver=mp4_hd"
    )
