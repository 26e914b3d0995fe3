"""What every API family of the hook builds on: one call, sync or async, and secret answers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_cincopa.exceptions import CincopaResponseError
from airflow_provider_cincopa.redaction import register_secret

if TYPE_CHECKING:
    from airflow_provider_cincopa.hooks._transport import ConnectionSettings


class CincopaAPI:
    """
    The transport the API families (assets, tokens, portals, webhooks...) call through.

    :class:`~airflow_provider_cincopa.hooks.cincopa.CincopaHook` implements it; the families are
    mixins so that each stays a short module of its own.
    """

    cincopa_conn_id: str

    @property
    def settings(self) -> ConnectionSettings:
        """The connection's base URL, token, timeout and retry policy."""
        raise NotImplementedError

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        http_method: str = "GET",
        idempotent: bool = True,
    ) -> dict[str, Any]:
        """One API method's JSON answer (see :meth:`CincopaHook.call`)."""
        raise NotImplementedError

    async def acall(self, method: str, params: dict[str, Any], *, http_method: str = "GET") -> dict[str, Any]:
        """The async twin of :meth:`call` (see :meth:`CincopaHook.acall`)."""
        raise NotImplementedError

    def _secret_field(self, method: str, params: dict[str, Any], field: str, *, http_method: str = "GET") -> str:
        # A field that is a credential (a token): required, and registered with the masker at once.
        value = str(self.call(method, params, http_method=http_method, idempotent=False).get(field) or "")
        if not value:
            raise CincopaResponseError(f"Cincopa's answer to {method} has no {field!r}", method=method)
        register_secret(value)
        return value
