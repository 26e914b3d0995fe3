"""The hook's account methods: temporary and upload tokens, the upload page, portals, webhooks."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from airflow_provider_cincopa.exceptions import CincopaApiError, CincopaInputError
from airflow_provider_cincopa.hooks import _answers
from airflow_provider_cincopa.hooks._api import CincopaAPI
from airflow_provider_cincopa.hooks._params import check_positive, clean_params, comma_list, required
from airflow_provider_cincopa.redaction import register_secret, register_url_secrets


class TokensAPI(CincopaAPI):
    """``token.get_temp``, ``upload.get_upload_token`` and the ``upload.iframe`` page."""

    def get_temp_token(
        self, *, ttl: int | None = None, sourceip: str | None = None, permissions: str | None = None
    ) -> str:
        """
        Create a temporary token for client-side calls (``token.get_temp``).

        Sent as GET, as every public client sends it (wire-protocol page, seen); not retried once
        the request may have reached Cincopa, as each call makes a new token.

        :param ttl: lifetime in seconds.
        :param sourceip: the only IPv4 address allowed to use it.
        :param permissions: a pipe list such as ``asset.list|asset.get_tags``.
        :return: the token, registered with the secrets masker.
        """
        check_positive(ttl, "ttl")
        params = {"ttl": ttl, "sourceip": sourceip, "permissions": permissions}
        return self._secret_field("token.get_temp", params, "token", http_method="GET")

    def get_upload_token(self, *, gallery_fid: str | None = None, ttl: int | None = None) -> str:
        """
        Create a token for the invite-upload page (``upload.get_upload_token``).

        Sent as GET, as every public client sends it. The parameter names ``fid`` and ``ttl`` are a
        guess: the REST doc names the method but not its parameters (docs/api-coverage.md).

        :param gallery_fid: the gallery uploads go to (sent as ``fid``; guess).
        :param ttl: lifetime in seconds (guess).
        :return: the token, registered with the secrets masker.
        """
        check_positive(ttl, "ttl")
        params = {"fid": gallery_fid, "ttl": ttl}
        return self._secret_field("upload.get_upload_token", params, "token", http_method="GET")

    def upload_iframe_url(self, *, gallery_fid: str | None = None, rrid: str | None = None, ttl: int = 3600) -> str:
        """
        Build the ``upload.iframe`` URL to embed in a page.

        The page answers HTML, not JSON, so the hook only builds the URL. It carries a temporary
        token limited to ``upload.iframe`` rather than the connection's api_token, so the URL can
        be handed to a browser. Treat it as a secret all the same until it expires. That
        ``upload.iframe`` is a permission a temp token can be limited to is a guess (the
        permission names Cincopa accepts are not documented); ``fid`` and ``rrid`` are the
        media-platform page's.

        :param gallery_fid: the gallery to manage, or
        :param rrid: your own reference for it (a post or object id).
        :param ttl: lifetime of the token in the URL, in seconds.
        """
        if not (gallery_fid or rrid):
            raise CincopaInputError("upload_iframe_url needs gallery_fid or rrid")
        token = self.get_temp_token(ttl=ttl, permissions="upload.iframe")
        query = urlencode(clean_params({"api_token": token, "fid": gallery_fid, "rrid": rrid}))
        return f"{self.settings.base_url}upload.iframe?{query}"


class PortalsAPI(CincopaAPI):
    """
    ``portal.*`` (the REST doc's table pairs some paths with the wrong descriptions).

    Guess, all of it beyond the method names: the REST doc documents no parameter or answer field
    of these methods. ``subdomain`` and ``new_subdomain`` as parameter names, ``available`` and
    ``portals`` as answer fields, and POST for the writes are ours (docs/api-coverage.md).
    """

    def check_portal(self, subdomain: str) -> bool:
        """True when the portal subdomain is free (``portal.check``)."""
        return bool(self.call("portal.check", {"subdomain": required(subdomain, "subdomain")}).get("available"))

    def cease_portal(self, subdomain: str) -> dict[str, Any]:
        """Claim a portal subdomain if it is available (``portal.cease``)."""
        return self._portal_write("portal.cease", subdomain)

    def rename_portal(self, subdomain: str, new_subdomain: str) -> dict[str, Any]:
        """Rename a portal (``portal.rename``)."""
        return self._portal_write("portal.rename", subdomain, new_subdomain=required(new_subdomain, "new_subdomain"))

    def remove_portal(self, subdomain: str) -> dict[str, Any]:
        """Delete a portal for good (``portal.remove``)."""
        return self._portal_write("portal.remove", subdomain)

    def set_portal(self, subdomain: str, **settings: Any) -> dict[str, Any]:
        """Create or update a portal's settings (``portal.set``)."""
        return self._portal_write("portal.set", subdomain, **settings)

    def list_portals(self) -> list[dict[str, Any]]:
        """Every portal of the account (``portal.list``)."""
        return list(self.call("portal.list").get("portals") or [])

    def _portal_write(self, method: str, subdomain: str, **params: Any) -> dict[str, Any]:
        # Parameter names are not documented; `subdomain` is our reading of the method table.
        # Only portal.set is a plain overwrite and safe to retry after it may have arrived.
        params = {"subdomain": required(subdomain, "subdomain"), **params}
        return self.call(method, params, http_method="POST", idempotent=method == "portal.set")


class WebhooksAPI(CincopaAPI):
    """``webhook.*``: where Cincopa sends its events."""

    def list_webhooks(self) -> list[dict[str, Any]]:
        """
        Every webhook of the account (``webhook.list``), each a dict with at least ``hook_url``.

        The REST doc types the items "Array of arrays" and calls them objects: both are read (an
        array's elements are also kept under ``values``; see
        :func:`airflow_provider_cincopa.hooks._answers.webhooks`).
        """
        return _answers.webhooks(self.call("webhook.list").get("webhooks"))

    def set_webhook(self, hook_url: str, *, security_key: str, events: str | list[str] = "*") -> dict[str, Any]:
        """
        Create or update the webhook for ``hook_url`` (``webhook.set``).

        Keyed by ``hook_url``, so repeating the call is harmless and it is retried like a read.

        :param hook_url: where Cincopa POSTs event JSON.
        :param security_key: the REST doc's "secret key used to hash the URL and append it when
            calling the hook_url" (registered as a secret). How it is applied to a delivery is
            not documented, so nothing here checks deliveries against it.
        :param events: ``*``, namespaces such as ``asset.*``, or events; a list or a comma string.
        """
        register_secret(security_key)
        register_url_secrets(hook_url)
        params = {
            "hook_url": required(hook_url, "hook_url"),
            "security_key": required(security_key, "security_key"),
        }
        return self.call("webhook.set", {**params, "events": comma_list(events)}, http_method="POST")

    def set_slack_webhook(
        self,
        hook_url: str,
        *,
        slack_channel: str,
        events: str | list[str] | None = None,
        slack_username: str | None = None,
        slack_icon: str | None = None,
    ) -> dict[str, Any]:
        """
        Send events to a Slack incoming webhook (``webhook.set_slack``).

        :param hook_url: the Slack webhook URL (a secret: registered with the masker).
        :param slack_channel: the channel to post to.
        :param events: which events; Cincopa's default is all.
        :param slack_username: the sender's name (Cincopa's default ``cincopa_bot``).
        :param slack_icon: an emoji or image URL.
        """
        register_secret(hook_url)
        params = {
            "hook_url": required(hook_url, "hook_url"),
            "slack_channel": required(slack_channel, "slack_channel"),
            "events": comma_list(events),
            "slack_username": slack_username,
            "slack_icon": slack_icon,
        }
        return self.call("webhook.set_slack", params, http_method="POST")

    def delete_webhook(self, hook_url: str, *, missing_ok: bool = False) -> bool:
        """
        Delete the webhook for ``hook_url``.

        The REST doc spells the path ``webhhook.delete.json``; we call the real ``webhook.delete``.

        :param hook_url: the webhook's URL.
        :param missing_ok: return False instead of raising when there is no such webhook.
        """
        try:
            register_url_secrets(hook_url)
            self.call("webhook.delete", {"hook_url": required(hook_url, "hook_url")}, http_method="POST")
        except CincopaApiError:
            if missing_ok and not _answers.webhook_named(self.list_webhooks(), hook_url):
                return False
            raise
        return True
