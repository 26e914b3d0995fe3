"""CincopaHook against the emulator over real HTTP: every API v2 method, the wire, every error type."""

from __future__ import annotations

import json

import httpx
import pytest

from airflow_provider_cincopa import __version__
from airflow_provider_cincopa.exceptions import (
    CincopaApiError,
    CincopaAuthError,
    CincopaHttpError,
    CincopaInputError,
    CincopaResponseError,
)
from airflow_provider_cincopa.hooks.cincopa import CincopaHook
from tests.conftest import TOKEN, set_connection


def upload(hook: CincopaHook, tmp_path, name: str = "clip.mp4", data: bytes = b"v" * 1000, **kw) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return hook.upload_file(str(path), **kw).rid


def last_api_request(emulator, method: str) -> dict:
    return [r for r in emulator.requests("/v2/") if r["path"] == f"/v2/{method}.json"][-1]


# -- wire ------------------------------------------------------------------------------------


def test_ping_sends_token_in_query_only_with_user_agent(hook, emulator):
    answer = hook.ping()
    assert answer["success"] is True
    assert "asset.*" in answer["permissions"]
    request = last_api_request(emulator, "ping")
    assert request["method"] == "GET"
    assert request["query"]["api_token"] == TOKEN
    assert all(TOKEN not in str(value) for value in request["headers"].values())
    assert request["headers"]["user-agent"].startswith(f"airflow-provider-cincopa/{__version__}")


@pytest.mark.parametrize(
    ("call", "method", "http_method", "params"),
    [
        (
            lambda h, rid: h.set_meta(rid, caption="C", tags=["a", "b"]),
            "asset.set_meta",
            "POST",
            {"caption": "C", "tags": "a,b"},
        ),
        (lambda h, rid: h.resync_asset(rid), "asset.resync", "POST", {}),
        (lambda h, rid: list(h.list_assets(rid=rid)), "asset.list", "GET", {"page": "1"}),
        (lambda h, rid: h.get_tags(), "asset.get_tags", "GET", {}),
        (
            lambda h, rid: h.set_webhook("http://127.0.0.1:9/h", security_key="k" * 8, events=["asset.*"]),
            "webhook.set",
            "POST",
            {"hook_url": "http://127.0.0.1:9/h", "events": "asset.*"},
        ),
        (lambda h, rid: h.list_webhooks(), "webhook.list", "GET", {}),
        (lambda h, rid: h.delete_asset(rid), "asset.delete", "POST", {}),
    ],
)
def test_methods_use_documented_verb_and_parameter_names(hook, emulator, tmp_path, call, method, http_method, params):
    rid = upload(hook, tmp_path)
    call(hook, rid)
    request = last_api_request(emulator, method)
    assert request["method"] == http_method
    assert request["body_length"] == 0, "parameters travel in the query string, as Cincopa's clients send them"
    for key, value in params.items():
        assert request["query"][key] == value
    if method.startswith("asset.") and method not in ("asset.list", "asset.get_tags"):
        assert request["query"]["rid"] == rid


# -- connection ------------------------------------------------------------------------------


def test_connection_test_button_reports_account(hook):
    ok, message = hook.test_connection()
    assert ok, message
    assert "Connected to Cincopa account" in message and "asset.*" in message


def test_connection_test_with_wrong_token_fails_clearly(emulator, monkeypatch):
    set_connection(monkeypatch, "cincopa_bad", password="wrongtoken123", host=emulator.base_url)
    ok, message = CincopaHook("cincopa_bad").test_connection()
    assert not ok
    assert "403" in message and "API token" in message and "wrongtoken123" not in message


def test_uri_form_connection_with_encoded_host(emulator, monkeypatch):
    from urllib.parse import quote

    monkeypatch.setenv("AIRFLOW_CONN_CINCOPA_URI", f"cincopa://:{TOKEN}@{quote(emulator.base_url, safe='')}?timeout=5")
    hook = CincopaHook("cincopa_uri")
    assert hook.settings.base_url == emulator.base_url
    assert hook.settings.timeout == 5
    assert hook.ping()["success"]


def test_uri_form_connection_with_plain_host_and_scheme_extra(emulator, monkeypatch):
    host_port = emulator.base_url.split("//")[1].split("/")[0]
    monkeypatch.setenv("AIRFLOW_CONN_CINCOPA_PLAIN", f"cincopa://:{TOKEN}@{host_port}/v2?scheme=http")
    hook = CincopaHook("cincopa_plain")
    assert hook.settings.base_url == emulator.base_url
    assert hook.ping()["success"]


def test_default_base_url_without_trailing_slash(monkeypatch):
    set_connection(monkeypatch, "cincopa_noslash", password="x" * 10, host="https://api.cincopa.com/v2")
    assert CincopaHook("cincopa_noslash").settings.base_url == "https://api.cincopa.com/v2/"
    set_connection(monkeypatch, "cincopa_nohost", password="x" * 10)
    assert CincopaHook("cincopa_nohost").settings.base_url == "https://api.cincopa.com/v2/"


def test_missing_token_is_a_clear_input_error(monkeypatch, emulator):
    set_connection(monkeypatch, "cincopa_empty", host=emulator.base_url)
    with pytest.raises(CincopaInputError, match="no API token"):
        CincopaHook("cincopa_empty").ping()


def test_negative_timeout_extra_is_rejected(monkeypatch, emulator):
    set_connection(monkeypatch, "cincopa_neg", password=TOKEN, host=emulator.base_url, extra={"timeout": -1})
    with pytest.raises(CincopaInputError, match="timeout"):
        CincopaHook("cincopa_neg").ping()


# -- general ---------------------------------------------------------------------------------


def test_temp_token_is_limited_to_read_methods(hook, emulator, monkeypatch):
    temp = hook.get_temp_token(ttl=60)
    assert temp and temp != TOKEN
    set_connection(monkeypatch, "cincopa_temp", password=temp, host=emulator.base_url)
    temp_hook = CincopaHook("cincopa_temp")
    assert temp_hook.ping()["success"]
    assert list(temp_hook.list_assets()) == []
    with pytest.raises(CincopaAuthError, match="permission") as err:
        temp_hook.set_webhook("http://127.0.0.1:9/x", security_key="abcdefgh")
    assert temp not in str(err.value)


def test_token_without_permission_gets_auth_error(emulator, monkeypatch):
    set_connection(monkeypatch, "cincopa_ro", password="READONLYTOKEN123", host=emulator.base_url)
    with pytest.raises(CincopaAuthError, match="permission") as err:
        CincopaHook("cincopa_ro").delete_asset("AAAAAAAAAAAA")
    assert err.value.http_status == 403 and err.value.method == "asset.delete"
    assert "READONLYTOKEN123" not in str(err.value)


# -- assets ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_list_assets_is_lazy_over_every_page(hook, emulator, tmp_path):
    rids = {upload(hook, tmp_path, f"f{i}.mp4", bytes([i]) * 100) for i in range(7)}
    pages = hook.list_assets(items_per_page=3)
    first = next(pages)
    assert len(emulator.requests("/v2/asset.list")) == 1, "only the first page is fetched before iterating"
    rest = list(pages)
    assert {a["rid"] for a in [first, *rest]} == rids
    assert [r["query"]["page"] for r in emulator.requests("/v2/asset.list")] == ["1", "2", "3"]


def test_list_assets_filters(hook, tmp_path):
    a = upload(hook, tmp_path, "alpha.mp4", b"a" * 10)
    b = upload(hook, tmp_path, "beta.jpg", b"b" * 10)
    hook.set_meta(a, tags="news,sport", reference_id="ref-a", caption="Alpha news")
    assert [x["rid"] for x in hook.list_assets(tag="sport")] == [a]
    assert [x["rid"] for x in hook.list_assets(reference_id="ref-a")] == [a]
    assert [x["rid"] for x in hook.list_assets(search="alpha")] == [a]
    assert {x["rid"] for x in hook.list_assets(rid=[a, b])} == {a, b}
    assert [x["rid"] for x in hook.list_assets(type="image")] == [b]


def test_get_asset_set_meta_and_tags(hook, tmp_path):
    rid = upload(hook, tmp_path)
    hook.set_meta(
        rid,
        caption="Cap",
        description="D",
        long_description="LD",
        related_link_text="T",
        related_link_url="https://example.com",
        reference_id="R1",
        tags=["x", "y"],
    )
    asset = hook.get_asset(rid)
    assert (asset["caption"], asset["reference_id"], asset["tags"]) == ("Cap", "R1", "x,y")
    assert hook.get_tags() == {"x": 1, "y": 1}


def test_set_meta_rejects_unknown_field_before_sending(hook, emulator):
    with pytest.raises(CincopaInputError, match="colour"):
        hook.set_meta("AAAAAAAAAAAA", colour="red")
    assert emulator.requests("/v2/asset.set_meta") == []


def test_unknown_rid_is_an_api_error_naming_it(hook):
    with pytest.raises(CincopaApiError, match=r"asset\.set_meta") as err:
        hook.set_meta("NOSUCHRID123", caption="x")
    assert "not found" in str(err.value)
    with pytest.raises(CincopaApiError, match="NOSUCHRID123"):
        hook.get_asset("NOSUCHRID123")


def test_resync_and_delete(hook, emulator, tmp_path):
    rid = upload(hook, tmp_path)
    assert hook.resync_asset(rid)["success"]
    assert hook.delete_asset(rid) is True
    assert emulator.assets() == []
    assert hook.delete_asset(rid, missing_ok=True) is False
    with pytest.raises(CincopaApiError):
        hook.delete_asset(rid)


def test_get_upload_url_checks_gallery_and_attach_pair(hook):
    url = hook.get_upload_url(gallery_fid="GALLERY00001")
    assert "hash=" in url
    with pytest.raises(CincopaApiError, match="gallery"):
        hook.get_upload_url(gallery_fid="NOSUCHGALLRY")
    with pytest.raises(CincopaInputError, match="attach_type"):
        hook.get_upload_url(attach_to_rid="AAAAAAAAAAAA")


# -- upload from URL -------------------------------------------------------------------------


def test_upload_from_url_status_and_abort(hook, emulator, media_server):
    url = media_server.add("remote.mp4", b"m" * 50_000)
    status_id = hook.upload_from_url(url, gallery_fid="GALLERY00001")
    request = last_api_request(emulator, "asset.upload_from_url")
    assert request["method"] == "POST" and request["query"]["input"] == url
    status = _wait_terminal(hook, status_id)
    assert status.state == "done" and status.rid
    assert status.total_bytes == 50_000 and status.raw["success"] is True
    assert any(a["rid"] == status.rid and a["size"] == 50_000 for a in emulator.assets())

    emulator.faults(import_rate=1000)
    slow = hook.upload_from_url(media_server.add("slow.mp4", b"s" * 100_000))
    assert hook.get_upload_from_url_status(slow).state == "running"
    assert hook.abort_upload_from_url(slow)["success"]
    aborted = hook.get_upload_from_url_status(slow)
    assert aborted.state == "failed" and "abort" in aborted.message.lower()


def test_upload_from_url_failed_source_and_unknown_status(hook, media_server):
    status = _wait_terminal(hook, hook.upload_from_url(media_server.url + "/missing.mp4"))
    assert status.state == "failed" and "404" in status.message
    with pytest.raises(CincopaApiError, match="status_id"):
        hook.get_upload_from_url_status("nosuchstatus")


def test_upload_from_url_rejects_non_http_before_sending(hook, emulator):
    for bad in ("ftp://x/y.mp4", "not a url", "/local/file.mp4", ""):
        with pytest.raises(CincopaInputError):
            hook.upload_from_url(bad)
    assert emulator.requests("/v2/asset.upload_from_url") == []


async def test_async_status_call(hook, media_server):
    status_id = hook.upload_from_url(media_server.add("a.mp4", b"a" * 1000))
    _wait_terminal(hook, status_id)
    status = await hook.aget_upload_from_url_status(status_id)
    assert status.state == "done" and status.rid


def _wait_terminal(hook, status_id, timeout=20.0):
    import time

    deadline = time.monotonic() + timeout
    while True:
        status = hook.get_upload_from_url_status(status_id)
        if status.is_terminal or time.monotonic() > deadline:
            return status
        time.sleep(0.1)


# -- upload page, portals, webhooks ----------------------------------------------------------


def test_upload_token_opens_the_upload_page_only_and_the_iframe_url_hides_the_api_token(hook, emulator):
    token = hook.get_upload_token(gallery_fid="GALLERY00001", ttl=600)
    (sent,) = emulator.requests("/v2/upload.get_upload_token")
    assert (sent["method"], sent["query"]["fid"], sent["query"]["ttl"]) == ("GET", "GALLERY00001", "600")
    page = httpx.get(
        f"{emulator.base_url}upload.iframe", params={"api_token": token, "fid": "GALLERY00001"}, timeout=10
    )
    assert page.status_code == 200, "the token opens the upload page"
    listing = httpx.get(f"{emulator.base_url}asset.list.json", params={"api_token": token}, timeout=10)
    assert listing.status_code == 403, "and nothing else: it is not the api_token"
    url = hook.upload_iframe_url(gallery_fid="GALLERY00001")
    assert TOKEN not in url
    page = httpx.get(url, timeout=10)
    assert page.status_code == 200 and "html" in page.headers["content-type"]
    with pytest.raises(CincopaInputError):
        hook.upload_iframe_url()


def test_portals(hook):
    assert hook.check_portal("mysite") is True
    hook.cease_portal("mysite")
    assert hook.check_portal("mysite") is False
    with pytest.raises(CincopaApiError):
        hook.cease_portal("mysite")
    hook.set_portal("mysite", title="My videos")
    hook.rename_portal("mysite", "newsite")
    assert [p["subdomain"] for p in hook.list_portals()] == ["newsite"]
    hook.remove_portal("newsite")
    assert hook.list_portals() == []


def test_webhooks(hook, emulator):
    hook.set_webhook("http://127.0.0.1:9/a", security_key="secretkey1", events="asset.*")
    hook.set_slack_webhook("https://hooks.slack.example/T0/B0/X", slack_channel="#media", slack_username="bot")
    urls = sorted(w["hook_url"] for w in hook.list_webhooks())
    assert urls == ["http://127.0.0.1:9/a", "https://hooks.slack.example/T0/B0/X"]
    assert "secretkey1" not in json.dumps(hook.list_webhooks())
    assert hook.delete_webhook("http://127.0.0.1:9/a") is True
    assert last_api_request(emulator, "webhook.delete")["method"] == "POST"
    assert hook.delete_webhook("http://127.0.0.1:9/a", missing_ok=True) is False
    with pytest.raises(CincopaApiError):
        hook.delete_webhook("http://127.0.0.1:9/a")


# -- error types -----------------------------------------------------------------------------


def test_http_error_status_is_not_retried_and_names_method(hook, emulator):
    emulator.faults(fail=[{"path_prefix": "/v2/ping", "nth": 1, "status": 404, "times": 1}])
    with pytest.raises(CincopaHttpError, match=r"ping.*404") as err:
        hook.ping()
    assert err.value.http_status == 404
    assert len(emulator.requests("/v2/ping")) == 1


@pytest.mark.slow
def test_malformed_answer_is_a_response_error(hook, emulator):
    emulator.faults(
        malformed=[
            {
                "path_prefix": "/v2/ping",
                "nth": 1,
                "body": "<html>oops</html>",
                "status": 200,
                "content_type": "text/html",
                "times": 99,
            }
        ]
    )
    with pytest.raises(CincopaResponseError, match="not a JSON object"):
        hook.ping()
    emulator.faults(
        malformed=[
            {
                "path_prefix": "/v2/ping",
                "nth": 1,
                "body": '{"ok": 1}',
                "status": 200,
                "content_type": "application/json",
                "times": 99,
            }
        ]
    )
    with pytest.raises(CincopaResponseError, match="no 'success'"):
        hook.ping()
