"""
Exceptions raised by the Cincopa provider.

Every message names the Cincopa method and what Cincopa said, and has already been through
:func:`airflow_provider_cincopa.redaction.redact`: no api_token, temp token, security key or
upload hash can reach a log line or a traceback through one of these.
"""

from __future__ import annotations

from airflow_provider_cincopa._compat import AirflowException, AirflowFailException


class CincopaError(AirflowException):
    """
    Base class of every error the provider raises.

    :param message: what went wrong, already redacted.
    :param method: the Cincopa API method (``asset.list``) or ``upload`` for the upload host.
    :param status_code: the HTTP status, when there was an answer (kept as ``http_status``:
        ``AirflowException.status_code`` means something else).
    """

    def __init__(self, message: str, *, method: str | None = None, status_code: int | None = None) -> None:
        super().__init__(message)
        self.method = method
        self.http_status = status_code


class CincopaInputError(CincopaError, ValueError):
    """A bad argument (missing file, chunk size 0, negative timeout...), caught before any request."""


class CincopaAuthError(CincopaError):
    """HTTP 403: the token is wrong, expired, or lacks the permission the method needs."""


class CincopaApiError(CincopaError):
    """Cincopa answered ``success: false`` (unknown rid, refused request...) with its ``message``."""


class CincopaHttpError(CincopaError):
    """An HTTP status other than 200 and 403, or the network failed after every retry."""


class CincopaResponseError(CincopaError):
    """The answer was malformed: not JSON, no ``success`` field, or a field we need is missing."""


class CincopaUploadError(CincopaError):
    """The upload host refused the file (its answer contained ``error``) or never created an asset."""


class CincopaUploadFromUrlError(CincopaError):
    """An ``asset.upload_from_url`` import failed, was aborted, or did not finish in time."""


class CincopaImportFailedError(CincopaUploadFromUrlError, AirflowFailException):
    """
    The import a sensor watches failed or was aborted: retrying the sensor cannot change that.

    An ``AirflowFailException``, so the task fails without using its retries (``soft_fail``
    still turns it into a skip).
    """


class CincopaAssetExistsError(CincopaError, AirflowFailException):
    """
    ``if_exists="fail"`` and an asset with the task's ``reference_id`` already exists.

    An ``AirflowFailException``: a retry would find the same asset. ``rids`` names them.
    """

    def __init__(self, message: str, *, rids: list[str]) -> None:
        super().__init__(message, method="asset.list")
        self.rids = rids


class CincopaGalleryExistsError(CincopaError):
    """A gallery of that name exists and ``CincopaCreateGalleryOperator(if_exists="fail")`` was asked for."""


class CincopaAssetSyncError(CincopaError):
    """Waiting for an asset's versions went wrong (Cincopa could not be asked): a retry may help."""


class CincopaSyncFailedError(CincopaAssetSyncError, AirflowFailException):
    """
    The asset a sensor waits for will never be ready: Cincopa reports its sync failed, or it is gone.

    An ``AirflowFailException``, so the task fails without using its retries (``soft_fail``
    still turns it into a skip). The message names the rid.

    :param message: what went wrong, already redacted.
    :param rid: the asset.
    """

    def __init__(self, message: str, *, rid: str | None = None, method: str | None = "asset.list") -> None:
        super().__init__(message, method=method)
        self.rid = rid


class CincopaSourceChangedError(CincopaInputError):
    """
    The source file or object changed while it was read, so the upload was not completed.

    No asset was made from the mixed bytes; a retry starts over from the file as it is then.
    """


class CincopaRedirectError(CincopaHttpError):
    """
    The API or the upload host answered a redirect: none is followed (another host, https to http, same host).

    The message names the status and the ``Location`` host, never its path or query.
    """


class CincopaAnswerTooLargeError(CincopaResponseError):
    """An answer was larger than the provider's cap (32 MiB): it was not read whole."""


class CincopaTlsError(CincopaHttpError):
    """
    TLS failed in a way no retry can fix: the certificate does not verify, or the server does not speak TLS.

    Raised at once, without the retries a network error gets.
    """


class CincopaTagCommaError(CincopaInputError):
    """A tag holds a comma: Cincopa keeps an asset's tags as one comma list, so it would split it."""


class CincopaMetadataRefusedError(CincopaError, AirflowFailException):
    """
    The asset was made, but setting its metadata failed: the task fails without using its retries.

    A retry would upload the file (or import the URL) again and make a second asset, so the error
    names the asset that exists instead; set its metadata with ``CincopaSetAssetMetaOperator`` or
    :meth:`~airflow_provider_cincopa.hooks.cincopa.CincopaHook.set_meta`.

    :param message: what went wrong, already redacted.
    :param rid: the asset that was made.
    """

    def __init__(self, message: str, *, rid: str, method: str | None = "asset.set_meta") -> None:
        super().__init__(message, method=method)
        self.rid = rid


class CincopaVersionNotFoundError(CincopaInputError):
    """The asset has none of the versions asked for (the message lists those it has)."""


class CincopaHlsVersionError(CincopaInputError):
    """The version asked for is an HLS playlist (``ts_*``, ``.m3u8``): it is not one file, so it is not downloaded."""


class CincopaDownloadSizeError(CincopaHttpError):
    """The CDN sent a file of another size than ``asset.list``'s ``filesize``: nothing was kept."""


class CincopaDestinationExistsError(CincopaError, AirflowFailException):
    """The destination exists and ``if_exists="fail"`` was asked for: nothing was downloaded."""
