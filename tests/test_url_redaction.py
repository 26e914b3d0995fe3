"""Passwords and signatures in URLs are redacted, and provider objects do not show secrets: in-process."""

from __future__ import annotations

import secrets

import pytest

from airflow_provider_cincopa.exceptions import CincopaInputError
from airflow_provider_cincopa.redaction import redact, url_secrets

pytestmark = pytest.mark.unit


def canary(kind: str) -> str:
    """A secret no test registered: only redact()'s own rules can hide it."""
    return f"{kind}{secrets.token_hex(8)}"


@pytest.mark.parametrize(
    ("template", "kept"),
    [
        ("ftp://alice:{s}@media.example/in/a.mp4", "ftp://alice:***@media.example/in/a.mp4"),
        ("s3://AKIAEXAMPLE:{s}/x+y@bucket/key.mp4", "s3://AKIAEXAMPLE:***@bucket/key.mp4"),
        (
            "Could not read https://bob:{s}@h:8443/p?a=1 (refused)",
            "Could not read https://bob:***@h:8443/p?a=1 (refused)",
        ),
        (
            "https://b.s3.amazonaws.com/k?X-Amz-Signature={s}&x=1",
            "https://b.s3.amazonaws.com/k?X-Amz-Signature=***&x=1",
        ),
        ("https://h/k?X-Amz-Credential={s}&X-Amz-Date=2026", "https://h/k?X-Amz-Credential=***&X-Amz-Date=2026"),
        ("https://h/k?X-Amz-Security-Token={s}", "https://h/k?X-Amz-Security-Token=***"),
        (
            "https://h/k?AWSAccessKeyId=AKIA&Signature={s}&Expires=1",
            "https://h/k?AWSAccessKeyId=***&Signature=***&Expires=1",
        ),
        (
            "https://storage.googleapis.com/b/o?X-Goog-Signature={s}",
            "https://storage.googleapis.com/b/o?X-Goog-Signature=***",
        ),
        ("https://h/o?X-Goog-Credential={s}", "https://h/o?X-Goog-Credential=***"),
        (
            "https://a.blob.core.windows.net/c/b?sv=2024&sig={s}&se=2026",
            "https://a.blob.core.windows.net/c/b?sv=2024&sig=***&se=2026",
        ),
        ("https://h/x?key={s}&keyword=kept", "https://h/x?key=***&keyword=kept"),
        ("https://h/x?password={s}", "https://h/x?password=***"),
        ("https://h/x?access_token={s}", "https://h/x?access_token=***"),
    ],
)
def test_url_credentials_are_masked_and_the_rest_is_kept(template, kept):
    secret = canary("S")
    assert redact(template.format(s=secret)) == kept


def test_a_url_without_credentials_is_unchanged():
    text = "https://user@media.example:8080/a/b.mp4?monkey=1&keyword=2#part and http://h/x@y"
    assert redact(text) == text


def test_url_secrets_names_each_secret_as_written_and_decoded():
    url = "https://bob:p%2Fw0rd@h/x?sig=abc%3D&X-Amz-Credential=AKIA%2F2026&keep=1"
    assert set(url_secrets(url)) == {"p%2Fw0rd", "p/w0rd", "abc%3D", "abc=", "AKIA%2F2026", "AKIA/2026"}


def test_upload_from_url_refusal_names_no_password():
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    password = canary("PW")
    with pytest.raises(CincopaInputError) as err:
        CincopaHook().upload_from_url(f"ftp://alice:{password}@media.example/a.mp4")
    assert password not in str(err.value) and "ftp://alice:***@media.example/a.mp4" in str(err.value)


def test_import_status_shows_no_signature_cincopa_echoed():
    from airflow_provider_cincopa.exceptions import CincopaUploadFromUrlError
    from airflow_provider_cincopa.types import UploadFromUrlStatus

    secret = canary("SIG")
    answer = {"status": "failed", "message": f"could not GET https://h/x.mp4?X-Amz-Signature={secret}"}
    status = UploadFromUrlStatus.from_answer("S1", answer)
    assert secret not in repr(status) and secret not in str(status)
    with pytest.raises(CincopaUploadFromUrlError) as err:
        status.finished_rid()
    assert secret not in str(err.value) and "X-Amz-Signature=***" in str(err.value)


def test_a_source_path_credential_is_registered_when_rendered_and_kept_out_of_lineage():
    from airflow_provider_cincopa.operators._ingest import file_dataset
    from airflow_provider_cincopa.operators.cincopa import CincopaUploadFileOperator

    secret = canary("SECRETKEY")
    source = f"s3://AKIAEXAMPLE:{secret}@media-bucket/in/a.mp4"
    op = CincopaUploadFileOperator(task_id="up", source_path=source)
    assert redact(f"stored {secret}") == f"stored {secret}", "nothing registered before rendering"
    op.render_template_fields(context={})
    assert redact(f"stored {secret}") == "stored ***"
    assert file_dataset(source) == ("s3://media-bucket", "in/a.mp4")
