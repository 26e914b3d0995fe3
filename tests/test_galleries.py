"""
Galleries over real HTTP against the emulator: the hook's gallery.* methods (verbs, parameters,
lazy paging, the per-gallery upload URL), uploads that land in a gallery, and every error: unknown
fid or rid, a token without the permission, malformed answers, bad input caught before sending.
"""

from __future__ import annotations

import json

import httpx
import pytest

from airflow_provider_cincopa.exceptions import (
    CincopaApiError,
    CincopaAuthError,
    CincopaHttpError,
    CincopaInputError,
    CincopaResponseError,
)
from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from airflow_provider_cincopa.redaction import redact
from tests.conftest import TOKEN, set_connection

SEED = "GALLERY00001"  # the gallery the session's emulator starts with (tests/conftest.py)


def upload(hook: CincopaHook, tmp_path, name: str = "clip.mp4", data: bytes = b"v" * 1000, **kw) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return hook.upload_file(str(path), **kw).rid


def api_requests(emulator, method: str) -> list[dict]:
    return [r for r in emulator.requests("/v2/") if r["path"] == f"/v2/{method}.json"]


def items(emulator, fid: str) -> list[str]:
    return emulator.state()["gallery_contents"][fid]["items"]


def check(err, *words: str) -> None:
    text = str(err.value)
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"
    assert TOKEN not in text


# -- list, create, find ----------------------------------------------------------------------


def test_create_gallery_returns_fid_and_lists_it_with_its_upload_url(hook, emulator):
    fid = hook.create_gallery("Trailers", description="Movie trailers")
    [create] = api_requests(emulator, "gallery.create")
    assert create["method"] == "POST" and create["body_length"] == 0
    assert (create["query"]["name"], create["query"]["description"]) == ("Trailers", "Movie trailers")
    assert "template" not in create["query"], "empty parameters are left out"

    galleries = {g["fid"]: g for g in hook.list_galleries()}
    assert set(galleries) == {SEED, fid}
    mine = galleries[fid]
    assert (mine["name"], mine["description"]) == ("Trailers", "Movie trailers")
    assert api_requests(emulator, "gallery.list")[-1]["method"] == "GET"
    # The upload URL's hash lets anyone upload into the account: it is a secret from the moment it is read.
    hash_value = httpx.URL(mine["upload_url"]).params["hash"]
    assert hash_value not in redact(f"failed at {mine['upload_url']} ({hash_value})")


@pytest.mark.slow
def test_find_galleries_by_exact_name(hook, emulator):
    first = hook.create_gallery("News")
    hook.create_gallery("News archive")
    second = hook.create_gallery("News")  # Cincopa lets two galleries share a name
    assert sorted(g["fid"] for g in hook.find_galleries("News")) == sorted([first, second])
    assert api_requests(emulator, "gallery.list")[-1]["query"]["search"] == "caption=News"
    assert hook.find_galleries("Nothing like it") == []
    assert hook.gallery_exists(first) and not hook.gallery_exists("NOSUCHGALLRY")


def test_list_galleries_is_lazy_over_every_page(hook, emulator):
    fids = {hook.create_gallery(f"G{i}") for i in range(4)} | {SEED}
    pages = hook.list_galleries(items_per_page=2)
    first = next(pages)
    assert len(api_requests(emulator, "gallery.list")) == 1, "only the first page is fetched before iterating"
    assert {g["fid"] for g in [first, *pages]} == fids
    # gallery.list says `page_count`, not asset.list's `pages_count`: both are read.
    assert [r["query"]["page"] for r in api_requests(emulator, "gallery.list")] == ["1", "2", "3"]


def test_list_galleries_filters_by_tags(hook):
    tagged = hook.create_gallery("Tagged")
    hook.set_gallery_meta(tagged, tags=["promo", "2026"])
    assert [g["fid"] for g in hook.list_galleries(filter_tags="promo")] == [tagged]
    assert list(hook.list_galleries(filter_tags=["nope"])) == []


# -- uploads into a gallery ------------------------------------------------------------------


@pytest.mark.slow
def test_upload_file_and_upload_from_url_land_in_the_gallery(hook, emulator, tmp_path, media_server):
    fid = hook.create_gallery("Inbox")
    uploaded = upload(hook, tmp_path, gallery_fid=fid)
    status_id = hook.upload_from_url(media_server.add("remote.mp4", b"r" * 5000), gallery_fid=fid)
    imported = _wait_rid(hook, status_id)
    elsewhere = upload(hook, tmp_path, "other.mp4", b"o" * 10)
    assert [a["rid"] for a in hook.get_gallery_items(fid)] == [uploaded, imported]
    assert elsewhere not in items(emulator, fid)


def test_post_to_the_galleries_upload_url_adds_to_that_gallery(hook, emulator):
    # The media-platform page: "to upload an asset directly to a gallery use the upload_url
    # returned from the gallery.list.json command".
    fid = hook.create_gallery("Direct")
    [gallery] = [g for g in hook.list_galleries() if g["fid"] == fid]
    body = b"d" * 321
    answer = httpx.post(
        gallery["upload_url"],
        content=body,
        headers={"X-File-Name": "direct.mp4", "Content-Range": f"bytes 0-{len(body)}/{len(body)}", "unique-id": "1"},
        timeout=30,
    )
    rid = answer.text.split("new resource id")[1].split()[1]
    assert [a["rid"] for a in hook.get_gallery_items(fid)] == [rid]


def test_deleting_an_asset_removes_it_from_every_gallery(hook, emulator, tmp_path):
    a, b = hook.create_gallery("A"), hook.create_gallery("B")
    rid = upload(hook, tmp_path, gallery_fid=a)
    hook.add_to_gallery(b, rid)
    assert rid in items(emulator, a) and rid in items(emulator, b)
    hook.delete_asset(rid)
    assert items(emulator, a) == [] and items(emulator, b) == []


# -- items -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_add_and_remove_one_or_many_assets(hook, emulator, tmp_path):
    fid = hook.create_gallery("Playlist")
    r1, r2, r3 = (upload(hook, tmp_path, f"c{i}.mp4", bytes([i]) * 50) for i in range(3))
    hook.add_to_gallery(fid, r1)
    hook.add_to_gallery(fid, [r2, r3], insert_position="top")
    add = api_requests(emulator, "gallery.add_item")[-1]
    assert add["method"] == "POST" and add["body_length"] == 0
    assert (add["query"]["fid"], add["query"]["rid"], add["query"]["insert_position"]) == (fid, f"{r2},{r3}", "top")
    assert [a["rid"] for a in hook.get_gallery_items(fid)] == [r2, r3, r1]

    hook.remove_from_gallery(fid, f"{r2}, {r1}")
    remove = api_requests(emulator, "gallery.remove_item")[-1]
    assert remove["method"] == "POST" and remove["query"]["rid"] == f"{r2},{r1}"
    assert [a["rid"] for a in hook.get_gallery_items(fid)] == [r3]
    assert {a["rid"] for a in emulator.assets()} == {r1, r2, r3}, "removing from a gallery keeps the asset"


@pytest.mark.slow
def test_get_gallery_items_is_lazy_over_every_page(hook, emulator, tmp_path):
    fid = hook.create_gallery("Long")
    rids = [upload(hook, tmp_path, f"p{i}.mp4", bytes([i]) * 20, gallery_fid=fid) for i in range(5)]
    pages = hook.get_gallery_items(fid, items_per_page=2)
    first = next(pages)
    assert len(api_requests(emulator, "gallery.get_items")) == 1
    assert [a["rid"] for a in [first, *pages]] == rids
    assert [r["query"]["page"] for r in api_requests(emulator, "gallery.get_items")] == ["1", "2", "3"]
    assert all(r["method"] == "GET" for r in api_requests(emulator, "gallery.get_items"))


# -- metadata and delete ---------------------------------------------------------------------


def test_set_gallery_meta(hook, emulator):
    fid = hook.create_gallery("Old name")
    hook.set_gallery_meta(fid, name="New name", description="D", tags=["x", "y"])
    request = api_requests(emulator, "gallery.set_meta")[-1]
    assert request["method"] == "POST" and request["query"]["tags"] == "x,y"
    [gallery] = hook.find_galleries("New name")
    assert (gallery["fid"], gallery["description"], gallery["tags"]) == (fid, "D", "x,y")


@pytest.mark.slow
def test_delete_gallery_keeps_its_assets_unless_asked(hook, emulator, tmp_path):
    keep = hook.create_gallery("Keep assets")
    kept = upload(hook, tmp_path, "kept.mp4", gallery_fid=keep)
    assert hook.delete_gallery(keep) is True
    request = api_requests(emulator, "gallery.delete")[-1]
    assert request["method"] == "POST" and request["query"]["delete_assets"] == "no", "never Cincopa's default"
    assert not hook.gallery_exists(keep) and [a["rid"] for a in emulator.assets()] == [kept]

    purge = hook.create_gallery("Purge assets")
    upload(hook, tmp_path, "gone.mp4", b"g" * 10, gallery_fid=purge)
    assert hook.delete_gallery(purge, delete_assets=True) is True
    assert api_requests(emulator, "gallery.delete")[-1]["query"]["delete_assets"] == "yes"
    assert [a["rid"] for a in emulator.assets()] == [kept]

    assert hook.delete_gallery(purge, missing_ok=True) is False
    with pytest.raises(CincopaApiError) as err:
        hook.delete_gallery(purge)
    check(err, "gallery.delete", "gallery not found", purge)


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "method"),
    [
        (lambda h: list(h.get_gallery_items("NOSUCHGALLRY")), "gallery.get_items"),
        (lambda h: h.add_to_gallery("NOSUCHGALLRY", "AAAAAAAAAAAA"), "gallery.add_item"),
        (lambda h: h.remove_from_gallery("NOSUCHGALLRY", "AAAAAAAAAAAA"), "gallery.remove_item"),
        (lambda h: h.set_gallery_meta("NOSUCHGALLRY", name="x"), "gallery.set_meta"),
        (lambda h: h.delete_gallery("NOSUCHGALLRY"), "gallery.delete"),
    ],
)
def test_unknown_fid_is_an_api_error_naming_it(hook, call, method):
    with pytest.raises(CincopaApiError) as err:
        call(hook)
    check(err, method, "gallery not found", "NOSUCHGALLRY")
    assert err.value.method == method


def test_unknown_rid_adds_nothing(hook, emulator, tmp_path):
    fid = hook.create_gallery("Strict")
    rid = upload(hook, tmp_path)
    with pytest.raises(CincopaApiError) as err:
        hook.add_to_gallery(fid, [rid, "NOSUCHRID123"])
    check(err, "gallery.add_item", "asset not found", "NOSUCHRID123")
    assert items(emulator, fid) == []


def test_token_without_gallery_permission_is_refused(emulator, monkeypatch):
    set_connection(monkeypatch, "cincopa_ro", password="READONLYTOKEN123", host=emulator.base_url)
    ro = CincopaHook("cincopa_ro")
    for call, method in (
        (lambda: list(ro.list_galleries()), "gallery.list"),
        (lambda: ro.create_gallery("x"), "gallery.create"),
    ):
        with pytest.raises(CincopaAuthError) as err:
            call()
        check(err, "403", method, "permission")
        assert err.value.http_status == 403 and "READONLYTOKEN123" not in str(err.value)
    assert emulator.state()["galleries"] == [SEED]


def test_temp_token_reads_galleries_but_cannot_change_them(hook, emulator, monkeypatch):
    fid = hook.create_gallery("Public")
    set_connection(monkeypatch, "cincopa_temp", password=hook.get_temp_token(ttl=60), host=emulator.base_url)
    temp = CincopaHook("cincopa_temp")
    assert fid in {g["fid"] for g in temp.list_galleries()}
    assert list(temp.get_gallery_items(fid)) == []
    with pytest.raises(CincopaAuthError):
        temp.delete_gallery(fid)


def _malformed(emulator, path: str, body: str, times: int = 99) -> None:
    rule = {"path_prefix": path, "nth": 1, "body": body, "status": 200, "content_type": "application/json"}
    emulator.faults(malformed=[{**rule, "times": times}])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "body", "call", "words"),
    [
        ("/v2/gallery.list", '{"success": true}', lambda h: list(h.list_galleries()), ("gallery.list", "'galleries'")),
        (
            "/v2/gallery.list",
            '{"success": true, "galleries": {"fid": "x"}}',
            lambda h: list(h.list_galleries()),
            ("gallery.list", "'galleries' list"),
        ),
        (
            "/v2/gallery.get_items",
            '{"success": true, "items": []}',
            lambda h: list(h.get_gallery_items(SEED)),
            ("gallery.get_items", "folder.items"),
        ),
        ("/v2/gallery.create", '{"success": true}', lambda h: h.create_gallery("x"), ("gallery.create", "no fid")),
        ("/v2/gallery.delete", "<html>oops</html>", lambda h: h.delete_gallery(SEED), ("not a JSON object",)),
    ],
)
def test_malformed_answers_are_response_errors(hook, emulator, path, body, call, words):
    _malformed(emulator, path, body)
    with pytest.raises(CincopaResponseError) as err:
        call(hook)
    check(err, *words)


def test_create_gallery_is_not_retried_once_it_may_have_arrived(hook, emulator):
    # The gallery is made, then the connection drops before the answer: a retry would make a second one.
    emulator.faults(drop=[{"path_prefix": "/v2/gallery.create", "nth": 1, "times": 1, "after_handling": True}])
    with pytest.raises(CincopaHttpError):
        hook.create_gallery("Once")
    assert len(api_requests(emulator, "gallery.create")) == 1
    assert len(hook.find_galleries("Once")) == 1


def test_reads_are_retried_on_5xx(hook, emulator):
    emulator.faults(fail=[{"path_prefix": "/v2/gallery.list", "nth": 1, "status": 503, "times": 1}])
    assert [g["fid"] for g in hook.list_galleries()] == [SEED]
    assert len(api_requests(emulator, "gallery.list")) == 2


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda h: h.add_to_gallery(SEED, []), ("rids is required",)),
        (lambda h: h.add_to_gallery(SEED, " , "), ("rids is required",)),
        (lambda h: h.remove_from_gallery(SEED, None), ("rids is required",)),
        (lambda h: h.add_to_gallery(SEED, "AAAAAAAAAAAA", insert_position="middle"), ("insert_position", "middle")),
        (lambda h: h.add_to_gallery(" ", "AAAAAAAAAAAA"), ("fid is required",)),
        (lambda h: h.create_gallery(""), ("name is required",)),
        (lambda h: h.set_gallery_meta(SEED, colour="red"), ("colour", "name")),
        (lambda h: h.set_gallery_meta(SEED), ("Nothing to set",)),
        (lambda h: h.delete_gallery(""), ("fid is required",)),
        (lambda h: list(h.list_galleries(items_per_page=0)), ("items_per_page",)),
    ],
)
def test_bad_input_is_refused_before_sending(hook, emulator, call, words):
    with pytest.raises(CincopaInputError) as err:
        call(hook)
    check(err, *words)
    assert [r for r in emulator.requests("/v2/") if r["path"].startswith("/v2/gallery.")] == []


def test_gallery_state_survives_an_emulator_restart(tmp_path):
    from airflow_provider_cincopa.emulator.server import EmulatorServer

    with EmulatorServer(token="PERSISTTOKEN", data_dir=tmp_path, galleries=("SEEDED000001",)) as server:
        query = {"api_token": "PERSISTTOKEN"}
        fid = httpx.post(f"{server.base_url}gallery.create.json", params={**query, "name": "Kept"}).json()["fid"]
        httpx.post(f"{server.base_url}gallery.set_meta.json", params={**query, "fid": fid, "tags": "a"})
    with EmulatorServer(token="PERSISTTOKEN", data_dir=tmp_path) as server:
        answer = httpx.get(f"{server.base_url}gallery.list.json", params={"api_token": "PERSISTTOKEN"}).json()
    assert {(g["fid"], g["name"], g["tags"]) for g in answer["galleries"]} == {
        ("SEEDED000001", "SEEDED000001", ""),
        (fid, "Kept", "a"),
    }
    assert json.loads((tmp_path / "state.json").read_text())["galleries"][1]["name"] == "Kept"


def _wait_rid(hook, status_id: str, timeout: float = 20.0) -> str:
    import time

    deadline = time.monotonic() + timeout
    while True:
        status = hook.get_upload_from_url_status(status_id)
        if status.is_terminal:
            assert status.state == "done", status.message
            return str(status.rid)
        assert time.monotonic() < deadline, "the import did not finish"
        time.sleep(0.1)


# -- operators, run by real Airflow ----------------------------------------------------------

GALLERY_DAG = """
from datetime import datetime
from airflow.sdk import DAG, task
from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from airflow_provider_cincopa.operators.cincopa import CincopaUploadFileOperator, CincopaUploadFromUrlOperator
from airflow_provider_cincopa.operators.galleries import (
    CincopaAddToGalleryOperator,
    CincopaCreateGalleryOperator,
    CincopaDeleteGalleryOperator,
    CincopaRemoveFromGalleryOperator,
)

with DAG({dag_id!r}, schedule=None, start_date=datetime(2026, 1, 1)):
    gallery = CincopaCreateGalleryOperator(task_id="gallery", name="Run {{{{ params.n }}}}", params={{"n": 1}})
    into = CincopaUploadFileOperator(task_id="into", source_path={video!r}, gallery_fid=gallery.output)
    imported = CincopaUploadFromUrlOperator(
        task_id="imported", source_url={url!r}, gallery_fid=gallery.output, poll_interval=0.2
    )
    loose = CincopaUploadFileOperator.partial(task_id="loose").expand(source_path={extra!r})
    add = CincopaAddToGalleryOperator(
        task_id="add", gallery_fid=gallery.output, rids=loose.output, insert_position="top"
    )
    remove = CincopaRemoveFromGalleryOperator(task_id="remove", gallery_fid=gallery.output, rids=into.output)

    @task
    def contents(fid: str) -> list[str]:
        return [item["rid"] for item in CincopaHook().get_gallery_items(fid)]

    before = contents.override(task_id="before")(gallery.output)
    listed = contents(gallery.output)
    [into, imported] >> add >> before >> remove >> listed
    drop = CincopaDeleteGalleryOperator(task_id="drop", gallery_fid="NOSUCHGALLRY", missing_ok=True)
    listed >> drop
"""


def test_gallery_operators_in_a_dag(emulator, airflow_db, tmp_path, media_server):
    from tests.conftest import DAGS_FOLDER
    from tests.support import run_dag, task_states, xcom

    video = tmp_path / "into.mp4"
    video.write_bytes(b"i" * 2000)
    extra = []
    for i in range(2):
        path = tmp_path / f"loose{i}.mp4"
        path.write_bytes(bytes([i]) * (100 + i))
        extra.append(str(path))
    url = media_server.add("imported.mp4", b"m" * 3000)
    source = GALLERY_DAG.format(dag_id="op_galleries", video=str(video), url=url, extra=extra)

    dr = run_dag(DAGS_FOLDER, "op_galleries", source)
    assert dr.state == "success", task_states(dr)
    fid = xcom(dr, "gallery")
    by_name = {a["filename"]: a["rid"] for a in emulator.assets()}
    loose = [xcom(dr, "loose", i) for i in range(2)]
    assert sorted(loose) == sorted([by_name["loose0.mp4"], by_name["loose1.mp4"]])
    # the upload into the gallery was taken out again
    # both uploads with gallery_fid landed in the gallery, the mapped ones were added on top
    before = xcom(dr, "before")
    assert before[:2] == loose and sorted(before[2:]) == sorted([by_name["into.mp4"], by_name["imported.mp4"]])
    assert xcom(dr, "add") == loose and xcom(dr, "remove") == [by_name["into.mp4"]]
    assert xcom(dr, "contents") == [*loose, by_name["imported.mp4"]] == items(emulator, fid)
    assert emulator.state()["gallery_contents"][fid]["name"] == "Run 1"
    assert xcom(dr, "drop") is False

    # A second run (or a retry after a lost answer) reuses the gallery of that name.
    dr = run_dag(DAGS_FOLDER, "op_galleries", source, logical_date=None)
    assert dr.state == "success", task_states(dr)
    assert xcom(dr, "gallery") == fid and len(emulator.state()["galleries"]) == 2  # the seed and ours


def test_create_gallery_operator_if_exists(emulator, airflow_db):
    from airflow_provider_cincopa.exceptions import CincopaGalleryExistsError
    from airflow_provider_cincopa.operators.galleries import CincopaCreateGalleryOperator

    existing = CincopaHook().create_gallery("Taken")
    reuse = CincopaCreateGalleryOperator(task_id="reuse", name="Taken")
    assert reuse.execute({}) == existing
    fresh = CincopaCreateGalleryOperator(task_id="fresh", name="Taken", if_exists="create").execute({})
    assert fresh != existing and len(CincopaHook().find_galleries("Taken")) == 2
    with pytest.raises(CincopaGalleryExistsError) as err:
        CincopaCreateGalleryOperator(task_id="fail", name="Taken", if_exists="fail").execute({})
    check(err, "Taken", "exists already", "if_exists='reuse'")
    assert len(CincopaHook().find_galleries("Taken")) == 2


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (
            lambda ops: ops.CincopaCreateGalleryOperator(task_id="x", name="n", if_exists="sometimes"),
            ("if_exists", "sometimes"),
        ),
        (
            lambda ops: ops.CincopaAddToGalleryOperator(task_id="x", gallery_fid=SEED, rids="r", insert_position="mid"),
            ("insert_position", "mid"),
        ),
    ],
)
def test_gallery_operators_refuse_bad_arguments_at_parse(make, words):
    from airflow_provider_cincopa.operators import galleries as ops

    with pytest.raises(CincopaInputError) as err:
        make(ops)
    check(err, *words)


def test_add_operator_with_rids_rendering_to_nothing(emulator):
    from airflow_provider_cincopa.operators.galleries import CincopaAddToGalleryOperator

    with pytest.raises(CincopaInputError) as err:
        CincopaAddToGalleryOperator(task_id="add", gallery_fid=SEED, rids=[]).execute({})
    check(err, "add", "rids rendered to no asset rid")
    assert api_requests(emulator, "gallery.add_item") == []
