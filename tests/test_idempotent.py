"""``if_exists`` and Cincopa assets as Airflow Assets, run by real Airflow against the emulator."""

from __future__ import annotations

import pytest

from airflow_provider_cincopa.assets import asset_uri, rid_of
from tests.conftest import DAGS_FOLDER
from tests.support import dag_bag, lineage_of, make_file, openlineage_events, task_states, xcom
from tests.test_operators import dag_source, run


def upload_twice(emulator, tmp_path, dag_id: str, if_exists: str, caption: str = "first"):
    """Run one upload DAG twice, as a re-trigger of the same config would; return both runs and what the second sent."""
    video = tmp_path / f"{dag_id}.mp4"
    make_file(video, 4000)

    def body(caption: str) -> str:
        return f"""
        CincopaUploadFileOperator(task_id="up", source_path={str(video)!r}, reference_id="cms-42",
            if_exists={if_exists!r}, caption={caption!r})
        """

    first = run(dag_id, body("first"))
    assert first.state == "success", task_states(first)
    before = len(emulator.requests("/upload/")), len(emulator.requests("/v2/asset.get_upload_url"))
    again = run(dag_id, body(caption))
    after = len(emulator.requests("/upload/")), len(emulator.requests("/v2/asset.get_upload_url"))
    return first, again, (after[0] - before[0], after[1] - before[1])


def test_skip_returns_the_existing_asset_sends_nothing_and_still_sets_meta(emulator, airflow_db, tmp_path):
    first, again, sent = upload_twice(emulator, tmp_path, "idem_skip", "skip", caption="second")
    assert again.state == "success", task_states(again)
    [asset] = emulator.assets()
    assert xcom(first, "up") == xcom(again, "up") == asset["rid"]
    assert sent == (0, 0), "no upload URL asked for and no byte sent on skip"
    assert asset["caption"] == "second", "the metadata given is still set on skip"


def test_fail_names_the_existing_asset_without_retrying(emulator, airflow_db, tmp_path, capfd):
    _, again, sent = upload_twice(emulator, tmp_path, "idem_fail", "fail")
    assert again.state == "failed"
    [asset] = emulator.assets()
    assert sent == (0, 0)
    [ti] = again.get_task_instances()
    assert ti.try_number == 1
    log = "".join(capfd.readouterr())
    assert f"already exists: {asset['rid']}" in log and "CincopaAssetExistsError" in log


def test_upload_is_the_default_and_makes_a_second_asset(emulator, airflow_db, tmp_path):
    _, again, sent = upload_twice(emulator, tmp_path, "idem_upload", "upload")
    assert again.state == "success"
    assert len(emulator.assets()) == 2 and sent[1] == 1


@pytest.mark.parametrize(
    "body, problem",
    [
        ('if_exists="skip"', "give reference_id too"),
        ('if_exists="sometimes", reference_id="r"', "if_exists must be one of"),
        ('if_exists="skip", reference_id="r", attach_to_rid="x", attach_type="thumb"', "not an asset of its own"),
    ],
)
def test_bad_if_exists_is_refused_when_the_dag_is_parsed(airflow_db, body, problem):
    path = DAGS_FOLDER / "idem_bad.py"
    path.write_text(dag_source("idem_bad", f'CincopaUploadFileOperator(task_id="up", source_path="/x", {body})'))
    errors = dag_bag(path).import_errors
    assert problem in "".join(errors.values()), errors
    path.unlink()


def test_upload_from_url_skip_starts_no_second_import(emulator, airflow_db, media_server):
    url = media_server.add("idem.mp4", b"i" * 5000)
    body = f"""
    CincopaUploadFromUrlOperator(task_id="imp", source_url={url!r}, poll_interval=0.2,
        reference_id="feed-7", if_exists="skip", tags=["feed"])
    """
    first = run("idem_url", body)
    assert first.state == "success", task_states(first)
    [asset] = emulator.assets()
    assert (asset["reference_id"], asset["tags"]) == ("feed-7", "feed"), "metadata set once the import made it"
    second = run("idem_url", body)  # the same config, run again
    assert second.state == "success", task_states(second)
    assert len(emulator.state()["url_imports"]) == 1 and len(emulator.assets()) == 1
    assert xcom(second, "imp") == asset["rid"]


def test_url_metadata_without_waiting_is_refused(airflow_db):
    path = DAGS_FOLDER / "idem_nowait.py"
    path.write_text(
        dag_source(
            "idem_nowait",
            'CincopaUploadFromUrlOperator(task_id="i", source_url="https://h/x", '
            'caption="c", wait_for_completion=False)',
        )
    )
    assert "needs wait_for_completion=True" in "".join(dag_bag(path).import_errors.values())
    path.unlink()


def test_asset_alias_outlet_gets_the_cincopa_asset(emulator, airflow_db, tmp_path):
    video = tmp_path / "alias.mp4"
    make_file(video, 1234)
    dr = run(
        "idem_alias",
        f"""
        from airflow.sdk import AssetAlias
        CincopaUploadFileOperator(task_id="up", source_path={str(video)!r}, outlets=[AssetAlias("cincopa-media")])
        """,
    )
    assert dr.state == "success", task_states(dr)
    rid = xcom(dr, "up")
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        events = (
            session.query(AssetEvent, AssetModel)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetEvent.source_run_id == dr.run_id)
            .all()
        )
        assert [(a.uri, e.extra.get("rid")) for e, a in events] == [(f"cincopa://asset/{rid}", rid)]


def test_asset_uri_scheme_is_checked_by_airflow(airflow_db):
    from airflow.sdk import Asset

    rid = "Ab3_d-9"
    assert Asset(asset_uri(rid)).uri == f"cincopa://asset/{rid}" and rid_of(f"cincopa://asset/{rid}") == rid
    for uri, problem in [
        ("cincopa://gallery/abc", "the host must be 'asset'"),
        ("cincopa://asset/a/b", "is not a rid"),
        ("cincopa://asset/", "is not a rid"),
        ("cincopa://asset/abc?x=1", "takes no query string"),
    ]:
        with pytest.raises(ValueError, match=problem):
            Asset(uri)
    with pytest.raises(ValueError, match="is not a Cincopa rid"):
        asset_uri("a/b")


def test_openlineage_sees_the_source_file_and_the_cincopa_asset(emulator, airflow_db, tmp_path, media_server):
    """`airflow dags test` with the OpenLineage provider's file transport: the real listener's events."""
    video = tmp_path / "lineage.mp4"
    make_file(video, 2048)
    url = media_server.add("lineage-src.mp4", b"l" * 3000)
    dag_id = "idem_lineage"
    (DAGS_FOLDER / f"{dag_id}.py").write_text(
        dag_source(
            dag_id,
            f"""
    CincopaUploadFileOperator(task_id="up", source_path={str(video)!r})
    CincopaUploadFromUrlOperator(task_id="imp", source_url={url + "?sig=SECRET"!r}, poll_interval=0.2)
    """,
        )
    )
    events_file = tmp_path / "ol.jsonl"
    complete = openlineage_events(dag_id, airflow_db, tmp_path)
    rids = {a["filename"]: a["rid"] for a in emulator.assets()}
    seen = {task: lineage_of(event) for task, event in complete.items()}
    host = url.split("/")[2].split(":")[0]
    assert seen == {
        "up": ([("file", str(video))], [("cincopa://asset", rids["lineage.mp4"])]),
        "imp": ([(f"http://{host}", "lineage-src.mp4")], [("cincopa://asset", rids["lineage-src.mp4"])]),
    }
    assert "SECRET" not in events_file.read_text()
