"""
One place that hides secrets from text that may reach a log, an exception or the UI.

Cincopa puts the api_token in the query string of every URL, the upload URL carries a ``hash``
that lets anyone upload into the account, and webhook security keys are shared secrets. URLs a
user hands in carry their own: a password in the user part (``ftp://alice:PW@host``,
``s3://KEY:SECRET@bucket``) and signed-URL parameters (AWS, GCS, Azure SAS). Any URL or error text
passes through :func:`redact` before it is logged or raised; the values themselves are also
handed to Airflow's secrets masker by :func:`register_secret` (and :func:`register_url_secrets`
for a URL), which covers the task log lines and rendered fields that Airflow or third-party code
(urllib3's debug log, for one) writes with a raw value.
"""

from __future__ import annotations

import re
import threading
from urllib.parse import parse_qsl, unquote, urlsplit

REDACTED = "***"

#: Query parameters whose value is a secret wherever they appear (matched case-insensitively):
#: Cincopa's own, then the usual credentials of signed URLs: AWS SigV4 and SigV2, GCS V4, Azure
#: SAS (``sig``) and the generic names (``token``, ``key``, ``password``...).
SECRET_PARAMS = (
    "api_token",
    "token",
    "temp_token",
    "security_key",
    "hash",
    "signature",
    "sig",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "AWSAccessKeyId",
    "X-Goog-Signature",
    "X-Goog-Credential",
    "key",
    "api_key",
    "apikey",
    "access_token",
    "refresh_token",
    "id_token",
    "client_secret",
    "secret",
    "password",
    "passwd",
    "pwd",
)

_PARAM_RE = re.compile(
    r"(?P<key>(?:^|(?<=[?&;\s\"'/]))(?:{}))(?P<sep>=|%3D)(?P<value>[^&\s\"'#<>]+)".format(
        "|".join(re.escape(name) for name in SECRET_PARAMS)
    ),
    re.IGNORECASE,
)
# ``scheme://user:password@``: the user part stays (it says whose account), the password goes.
# An AWS secret key may hold '/', so the password runs to the '@', but never across '?' or '#'.
_USERINFO_RE = re.compile(r"(?P<prefix>\b[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s\"'<>]*):(?P<password>[^@\s\"'<>?#]+)@")
_SECRET_NAMES = frozenset(name.lower() for name in SECRET_PARAMS)

_known: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """
    Remember ``value`` as a secret: :func:`redact` hides it and Airflow's masker hides it in logs.

    Values shorter than 5 characters are not registered, for the same reason Airflow's masker
    skips them: they would blank out ordinary words. On an event loop use :func:`aregister_secret`.
    """
    if _remember(value):
        _mask(str(value))


async def aregister_secret(value: str | None) -> None:
    """
    :func:`register_secret` for a coroutine (a trigger): never a sync task-SDK call on the event loop.

    Airflow 3.3+ has ``amask_secret``, which tells the supervisor without blocking the loop. Below,
    the sync masker runs in a worker thread, as 3.0 and 3.1 require of a sync SDK call made from
    a trigger (the event loop's thread refuses it there).
    """
    if not _remember(value):
        return
    try:
        from airflow.sdk.log import amask_secret  # type: ignore[attr-defined]
    except ImportError:  # Airflow < 3.3
        from asgiref.sync import sync_to_async  # an Airflow dependency

        await sync_to_async(_mask)(str(value))
        return
    await amask_secret(str(value))


def _remember(value: str | None) -> bool:
    """Add ``value`` to the secrets :func:`redact` hides; True when it is new and long enough to mask."""
    if not value or len(value) < 5:
        return False
    with _lock:
        if value in _known:
            return False
        _known.add(value)
    return True


def _mask(value: str) -> None:
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - Airflow without the task SDK
        return
    mask_secret(value)


def url_secrets(url: object) -> list[str]:
    """
    The secret parts of a URL: its password and the values of its :data:`SECRET_PARAMS`.

    Each is given as it is written in the URL and, when different, percent-decoded, as either
    form can reach a log line.

    :param url: any text; what is not a URL has no secret part.
    """
    text = str(url or "")
    try:
        parts = urlsplit(text)
        found = [parts.password or ""]
    except ValueError:  # an unparseable netloc (a bad port, an unclosed '['): the regexes still apply
        parts, found = None, []
    found += [m.group("password") for m in _USERINFO_RE.finditer(text)]
    if parts is not None:
        found += [value for key, value in parse_qsl(parts.query) if key.lower() in _SECRET_NAMES]
    found += [m.group("value") for m in _PARAM_RE.finditer(text)]
    return [value for value in dict.fromkeys([*found, *(unquote(v) for v in found)]) if value]


def register_url_secrets(url: object) -> None:
    """Register every secret part of ``url`` (see :func:`url_secrets`) with :func:`register_secret`."""
    for value in url_secrets(url):
        register_secret(value)


def redact(text: object) -> str:
    """
    Return ``str(text)`` with secrets hidden: URL passwords, secret query parameters, registered secrets.

    ``https://bob:PW@host/x?X-Amz-Signature=abc`` becomes ``https://bob:***@host/x?X-Amz-Signature=***``.
    """
    result = _USERINFO_RE.sub(lambda m: f"{m.group('prefix')}:{REDACTED}@", str(text))
    result = _PARAM_RE.sub(lambda m: f"{m.group('key')}{m.group('sep')}{REDACTED}", result)
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
