"""What every API family of the hook builds on: one call, sync or async, and secret answers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from airflow_provider_cincopa.exceptions import CincopaResponseError
from airflow_provider_cincopa.redaction import register_secret

if TYPE_CHECKING:
    from tenacity import Retrying

    from airflow_provider_cincopa.hooks._transport import ConnectionSettings


def page_of(method: str, answer: dict[str, Any], key: str) -> tuple[list[Any], int]:
    """
    One page of a listing: the list at ``key`` in ``answer`` and how many pages there are.

    :param method: the API method, for the error.
    :param answer: its JSON answer.
    :param key: where the list is, dotted for a nested one (``folder.items``); the page count is
        read from the ``items_data`` next to it.
    :raises CincopaResponseError: there is no list at ``key``.
    """
    *path, name = key.split(".")
    holder: Any = answer
    for part in path:
        holder = holder.get(part) if isinstance(holder, dict) else None
    if not isinstance(holder, dict) or not isinstance(holder.get(name), list):
        raise CincopaResponseError(f"Cincopa's answer to {method} has no {key!r} list", method=method)
    return holder[name], _pages_count(holder.get("items_data"))


def _pages_count(paging: Any) -> int:
    # asset.list and gallery.get_items say `pages_count`; a third-party client reads gallery.list's
    # as `page_count` (weak). Either is taken; neither means one page.
    if not isinstance(paging, dict):
        return 1
    return int(paging.get("pages_count") or paging.get("page_count") or 1)


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

    def retrying(self, *, idempotent: bool) -> Retrying:
        """The retry policy for one call (see :meth:`CincopaHook.retrying`)."""
        raise NotImplementedError

    async def acall(self, method: str, params: dict[str, Any], *, http_method: str = "GET") -> dict[str, Any]:
        """The async twin of :meth:`call` (see :meth:`CincopaHook.acall`)."""
        raise NotImplementedError

    def _pages(
        self,
        method: str,
        params: dict[str, Any],
        key: str,
        *,
        on_answer: Callable[[dict[str, Any]], None] | None = None,
    ) -> Iterator[Any]:
        """
        Every item of a paged listing, lazily: the next page is asked for once this one is used up.

        :param method: the listing method (``asset.list``, ``gallery.list``...).
        :param params: its parameters, without ``page``.
        :param key: where each answer holds its list (see :func:`page_of`).
        :param on_answer: called with each answer before its items are read (to mask its secrets).
        """
        page = 1
        while True:
            answer = self.call(method, {**params, "page": page})
            if on_answer is not None:
                on_answer(answer)
            items, pages = page_of(method, answer, key)
            yield from items
            if page >= pages or not items:
                return
            page += 1

    def _secret_field(self, method: str, params: dict[str, Any], field: str, *, http_method: str = "GET") -> str:
        # A field that is a credential (a token): required, and registered with the masker at once.
        value = str(self.call(method, params, http_method=http_method, idempotent=False).get(field) or "")
        if not value:
            raise CincopaResponseError(f"Cincopa's answer to {method} has no {field!r}", method=method)
        register_secret(value)
        return value
