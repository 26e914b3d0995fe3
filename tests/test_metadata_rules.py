"""The metadata rules, ``if_exists`` and the shared parsers, in-process: no emulator, no database."""

from __future__ import annotations

import pytest

from airflow_provider_cincopa.exceptions import CincopaInputError, CincopaTagCommaError
from airflow_provider_cincopa.hooks._answers import number
from airflow_provider_cincopa.hooks._metadata import META_FIELDS, META_QUERY_BUDGET, meta_values
from airflow_provider_cincopa.hooks._params import rid_list
from airflow_provider_cincopa.types import IF_EXISTS, UploadFromUrlStatus, if_exists_rule

pytestmark = pytest.mark.unit


def refusal(**fields: object) -> str:
    with pytest.raises(CincopaInputError) as err:
        meta_values(fields, allowed=META_FIELDS, what="asset.set_meta on asset 'R1'")
    return str(err.value)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"caption": {"title": "x"}}, ("caption must be text", "dict")),
        ({"caption": ["a", "b"]}, ("caption must be text", "list")),
        ({"description": b"\xff\xfe"}, ("description must be text", "bytes")),
        ({"caption": 42}, ("caption must be text", "int")),
        ({"caption": ""}, ("caption is empty", "would not clear")),
        ({"caption": "   "}, ("caption is empty",)),
        ({"tags": []}, ("tags is empty",)),
        ({"tags": " , "}, ("tags is empty",)),
        ({"tags": ["ok", 3]}, ("every tag must be text", "int")),
        ({"tags": {"a": 1}}, ("tags must be a list of str or a comma string", "dict")),
        ({"title": "x"}, ("does not know", "title")),
    ],
)
def test_wrong_metadata_is_refused_naming_the_field(fields, words):
    text = refusal(**fields)
    assert text.startswith("asset.set_meta on asset 'R1': ")
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"


def test_a_tag_holding_a_comma_is_refused_with_its_own_error():
    with pytest.raises(CincopaTagCommaError) as err:
        meta_values({"tags": ["news", "a,b"]}, allowed=META_FIELDS, what="x")
    assert "tag 'a,b' holds a comma" in str(err.value) and "2 tags" in str(err.value)


def test_metadata_beyond_the_query_budget_is_refused_naming_the_field_and_the_limit():
    # 600 characters that URL-encode to 9 each (three UTF-8 bytes, each %XX): 5400 on the wire.
    text = refusal(caption="short", long_description="\u20ac" * 600)
    assert "long_description is 5417 characters URL-encoded" in text
    assert f"within {META_QUERY_BUDGET} characters" in text and "2048" in text


def test_metadata_within_the_budget_is_sent_as_cincopa_takes_it():
    values = meta_values(
        {"caption": "c" * 1000, "tags": [" a ", "b"], "reference_id": 42, "description": None},
        allowed=META_FIELDS,
        what="x",
    )
    assert values == {"caption": "c" * 1000, "tags": "a,b", "reference_id": "42"}


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("caption", {"a": 1}, ("Task 'up'", "caption must be text", "dict")),
        ("caption", "", ("Task 'up'", "caption is empty")),
        ("tags", ["x,y"], ("Task 'up'", "holds a comma")),
        ("description", "d" * 2000, ("Task 'up'", "description is 2012 characters")),
    ],
)
def test_upload_operator_refuses_wrong_literal_metadata_when_built(field, value, words):
    from airflow_provider_cincopa.operators.cincopa import CincopaUploadFileOperator

    with pytest.raises(CincopaInputError) as err:
        CincopaUploadFileOperator(task_id="up", source_path="/x.mp4", **{field: value})
    for word in words:
        assert word in str(err.value)


def test_templated_metadata_waits_for_rendering():
    from airflow.sdk import DAG, BaseOperator

    from airflow_provider_cincopa.operators.cincopa import CincopaSetAssetMetaOperator, CincopaUploadFromUrlOperator

    # A template and an XCom reference are checked once rendered, not when the DAG is parsed.
    with DAG("templated_meta", schedule=None):
        producer = BaseOperator(task_id="producer")
        CincopaSetAssetMetaOperator(task_id="meta", rid="R1", caption="{{ params.title }}", tags=producer.output)
        with pytest.raises(CincopaInputError, match="Task 'imp': tags is empty"):
            CincopaUploadFromUrlOperator(task_id="imp", source_url="https://h/x", caption="{{ x }}", tags=[])


def test_one_if_exists_vocabulary_with_the_first_spellings_read_into_it():
    assert IF_EXISTS == ("reuse", "create", "fail")
    assert [if_exists_rule(v) for v in ("skip", "reuse", "upload", "create", "fail")] == [
        "reuse",
        "reuse",
        "create",
        "create",
        "fail",
    ]
    with pytest.raises(CincopaInputError, match=r"if_exists must be one of \['reuse', 'create', 'fail'\], got 'maybe'"):
        if_exists_rule("maybe")


def test_gallery_operator_takes_the_shared_vocabulary():
    from airflow_provider_cincopa.operators.galleries import CincopaCreateGalleryOperator

    assert CincopaCreateGalleryOperator(task_id="g", name="n", if_exists="skip").if_exists == "reuse"


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [
        *[("12", int, 12), ("12.7", int, 12), (5, int, 5), ("-1", int, -1), ("42.5", float, 42.5)],
        *[(None, int, None), ("", int, None), ("n/a", int, None), (True, int, None), ("inf", int, None)],
    ],
)
def test_one_number_parser(value, kind, expected):
    assert number(value, kind) == expected


def test_import_status_numbers_read_minus_one_as_unknown():
    answer = {"status": "inprogress", "progress": "-1", "progress_bytes": "10", "file_size_bytes": "-1"}
    status = UploadFromUrlStatus.from_answer("S1", answer)
    assert (status.progress, status.bytes_done, status.total_bytes) == (None, 10, None)


@pytest.mark.parametrize(
    ("rids", "expected"),
    [("a", ["a"]), (" a , b ,", ["a", "b"]), (["a", " b "], ["a", "b"]), (("a", 7), ["a", "7"])],
)
def test_one_rid_list_parser(rids, expected):
    assert rid_list(rids) == expected


@pytest.mark.parametrize("rids", [None, "", " , ", []])
def test_rid_list_naming_no_rid_is_refused(rids):
    with pytest.raises(CincopaInputError, match="rids is required"):
        rid_list(rids)


@pytest.mark.parametrize("rid", ["", " , ", []])
def test_an_empty_rid_filter_is_refused_rather_than_read_as_every_asset(rid):
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    with pytest.raises(CincopaInputError, match="rid is required"):
        next(CincopaHook().list_assets(rid=rid))
