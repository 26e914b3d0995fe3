"""The one redaction function every URL and error text passes through."""

from __future__ import annotations

import pytest

from airflow_provider_cincopa.redaction import redact, register_secret


@pytest.mark.parametrize(
    "text",
    [
        "GET https://api.cincopa.com/v2/ping.json?api_token=SECRETVALUE1&x=1",
        "Max retries exceeded with url: /upload/post.jpg?uid=1&d=2&hash=SECRETVALUE1&addtofid=0",
        "webhook.set.json?hook_url=h&security_key=SECRETVALUE1",
        "upload.iframe?fid=x&api_token=SECRETVALUE1",
        "api_token%3DSECRETVALUE1",
    ],
)
def test_secret_parameters_are_hidden(text):
    out = redact(text)
    assert "SECRETVALUE1" not in out and "***" in out


def test_registered_secrets_are_hidden_anywhere():
    register_secret("plain-secret-in-text-42")
    assert redact("the token plain-secret-in-text-42 was bad") == "the token *** was bad"


def test_short_values_are_not_registered():
    register_secret("abc")
    assert redact("abc abcdef") == "abc abcdef"


def test_ordinary_text_is_kept():
    text = "Cincopa refused asset.set_meta: asset not found: rid=AbCdEfGh1234 (page=2&items_per_page=50)"
    assert redact(text) == text
