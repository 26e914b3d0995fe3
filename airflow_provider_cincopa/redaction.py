"""
One place that hides secrets from text that may reach a log, an exception or the UI.

Cincopa puts the api_token in the query string of every URL, the upload URL carries a ``hash``
that lets anyone upload into the account, and webhook security keys are shared secrets. Any URL or
error text passes through :func:`redact` before it is logged or raised; the values themselves are
also handed to Airflow's secrets masker by :func:`register_secret`, which covers the task log
lines that third-party code (urllib3's debug log, for one) writes with a raw URL.
"""

from __future__ import annotations

import re
import threading

REDACTED = "***"

#: Query parameters whose value is a secret wherever they appear.
SECRET_PARAMS = ("api_token", "token", "security_key", "hash", "signature", "temp_token")

_PARAM_RE = re.compile(
    r"(?P<key>(?:^|(?<=[?&;\s\"'/]))(?:{}))(?P<sep>=|%3D)(?P<value>[^&\s\"'#<>]+)".format("|".join(SECRET_PARAMS)),
    re.IGNORECASE,
)

_known: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """
    Remember ``value`` as a secret: :func:`redact` hides it and Airflow's masker hides it in logs.

    Values shorter than 5 characters are not registered, for the same reason Airflow's masker
    skips them: they would blank out ordinary words.
    """
    if not value or len(value) < 5:
        return
    with _lock:
        if value in _known:
            return
        _known.add(value)
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - Airflow without the task SDK
        return
    mask_secret(value)


def redact(text: object) -> str:
    """Return ``str(text)`` with secret query parameters and every registered secret hidden."""
    result = _PARAM_RE.sub(lambda m: f"{m.group('key')}{m.group('sep')}{REDACTED}", str(text))
    with _lock:
        secrets = sorted(_known, key=len, reverse=True)
    for secret in secrets:
        if secret in result:
            result = result.replace(secret, REDACTED)
    return result


_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(name: object) -> str:
    """
    Return ``str(name)`` safe for one log line: control characters escaped (``\\n``, ``\\x1b``).

    A file or asset name comes from whoever named the file; raw CR/LF in it would forge log lines
    and terminal escape codes would rewrite what an operator sees in a terminal.
    """
    return _CONTROL_RE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(name))
