"""One probe run: the read-only checks, the writes unless ``read_only``, and what is never checked."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

from airflow_provider_cincopa.exceptions import CincopaInputError
from airflow_provider_cincopa.probe._checks import READ_ONLY_CHECKS, attempt
from airflow_provider_cincopa.probe._import import import_findings
from airflow_provider_cincopa.probe._roundtrip import (
    WRITE_ROWS,
    gallery_update_finding,
    token_findings,
    upload_findings,
    write_not_checked,
)
from airflow_provider_cincopa.probe.report import ERROR, NOT_CHECKED, Finding, Report
from airflow_provider_cincopa.redaction import redact

if TYPE_CHECKING:
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

_WRITES_NOTHING = "the probe writes nothing but its one upload (tests/system/ exercises it on a test account)"
_CHANGES = "it would change the account's {}; " + _WRITES_NOTHING

#: Rows the probe never checks: (row of docs/api-coverage.md, assumption, why not).
NEVER_CHECKED: list[tuple[str, str, str]] = [
    ("asset.resync", "takes rid", "the probe's upload is not a video: a resync of it proves little"),
    ("asset.upload_from_url", "takes input, fid, rid+type and answers status_id", "checked with --import-url"),
    (
        "asset.upload_from_url_get_status",
        "terminal status words: ready/done/complete/completed/success or a resid; failed/error/aborted",
        "only a URL import that ends shows them: run with --import-url and a public URL of a small file",
    ),
    ("asset.upload_from_url_abort", "takes status_id", "needs a URL import still running (--import-url)"),
    ("upload.iframe", "a temp token limited to upload.iframe opens the page", "a page for a browser"),
    ("portal.cease", "takes subdomain (POST)", _CHANGES.format("portals")),
    ("portal.rename", "takes subdomain and new_subdomain (POST)", _CHANGES.format("portals")),
    ("portal.remove", "takes subdomain (POST)", _CHANGES.format("portals")),
    ("portal.set", "takes subdomain and settings (POST)", _CHANGES.format("portals")),
    ("webhook.set", "takes hook_url, security_key, events", _CHANGES.format("webhooks")),
    ("webhook.set_slack", "takes hook_url, slack_channel, events", _CHANGES.format("webhooks")),
    ("webhook.delete", "takes hook_url", _CHANGES.format("webhooks")),
    ("gallery.create", "takes name, description, template and answers fid", _CHANGES.format("galleries")),
    ("gallery.add_item", "takes fid, rid list, insert_position", _CHANGES.format("galleries")),
    ("gallery.remove_item", "takes fid, rid list", _CHANGES.format("galleries")),
    ("gallery.delete", "takes fid and delete_assets yes/no", _CHANGES.format("galleries")),
    ("HLS manifest", "rtcdn.cincopa.com/m3u8.aspx?rid=<rid>", "documented (MP doc); not fetched"),
    ("Direct version link", "get_version_url.aspx?rid=<rid>&ver=<keys>", "documented (MP doc); not fetched"),
    (
        "Webhook deliveries",
        "security_key signs a delivery in a way the emulator's `signature` parameter imitates",
        "a delivery needs a public URL Cincopa can reach; the probe registers none",
    ),
    ("Retry policy", "429 with Retry-After and 5xx are retried, 403 never", "the probe provokes no rate limit"),
]


def run_probe(
    hook: CincopaHook, *, read_only: bool = False, wait: float = 300, import_url: str | None = None
) -> Report:
    """
    Probe the API ``hook``'s connection points at.

    :param hook: the hook whose connection (token, base URL) is probed.
    :param read_only: make no write request (no token, no upload).
    :param wait: seconds to wait for the uploaded file's original version to be listed (and for
        the import to end).
    :param import_url: a public URL of a small file: import it to see the status words (not
        with ``read_only``).
    """
    if read_only and import_url:
        raise CincopaInputError("--import-url imports a file: it cannot go with --read-only")
    report = Report(api=hook.settings.base_url, read_only=read_only)
    # A wrong token or URL fails the whole probe (exit code 2) rather than every row.
    hook.ping()
    for row, assumption, check in READ_ONLY_CHECKS:
        report.add(attempt(row, assumption, partial(check, hook)))
    report.add(_dashboard_finding(hook))
    if not read_only:
        for finding in [*token_findings(hook), gallery_update_finding(hook), *upload_findings(hook, wait=wait)]:
            report.add(finding)
        for finding in import_findings(hook, import_url, wait=wait) if import_url else []:
            report.add(finding)
    checked = {f.row for f in report.findings}
    skipped = "--read-only: the probe made no write request" if read_only else "the upload before it failed"
    for row in WRITE_ROWS:
        if row not in checked:
            report.add(write_not_checked(row, skipped))
    for row, assumption, why in NEVER_CHECKED:
        if row not in checked:
            report.add(Finding(row, assumption, NOT_CHECKED, why))
    return report


def _dashboard_finding(hook: CincopaHook) -> Finding:
    from airflow_provider_cincopa.links.cincopa import (
        DASHBOARD_TEMPLATE_EXTRA,
        DEFAULT_DASHBOARD_URL_TEMPLATE,
        dashboard_url,
    )

    # The connection's own template when it has one: that is the link its tasks show.
    template = hook.get_connection(hook.cincopa_conn_id).extra_dejson.get(DASHBOARD_TEMPLATE_EXTRA) or None
    assumption = f"an asset's dashboard page is {template or DEFAULT_DASHBOARD_URL_TEMPLATE}"
    try:  # an asset of the account, to open its page (a rid is no secret)
        rid = next((str(a.get("rid")) for a in hook.list_assets(items_per_page=1)), None)
        where = f"open {dashboard_url(rid, template)}" if rid else "upload an asset, open its page"
    except Exception as exc:  # asset.list's own finding says more
        where = f"(no asset to show: {exc}) open an asset's page"
    evidence = f"needs a logged-in browser: {where} and say whether it shows that asset"
    return Finding("Dashboard page of an asset", assumption, NOT_CHECKED, evidence)


def main(argv: Sequence[str] | None = None) -> int:
    """``cincopa-probe``: probe the connection's account and write the report; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="cincopa-probe", description="Check the provider's assumptions about Cincopa's API against an account."
    )
    parser.add_argument("--conn-id", default="cincopa_default", help="the Airflow connection (default: %(default)s)")
    parser.add_argument("--read-only", action="store_true", help="make no write request (no token, no upload)")
    parser.add_argument(
        "--report", default="cincopa-probe-report", help="write PATH.json and PATH.md (default: %(default)s)"
    )
    parser.add_argument("--wait", type=float, default=300, help="seconds to wait for the upload's original version")
    parser.add_argument("--import-url", help="a public URL of a small file to import, to see the import's status words")
    args = parser.parse_args(argv)
    from airflow_provider_cincopa.hooks.cincopa import CincopaHook

    hook = CincopaHook(cincopa_conn_id=args.conn_id)
    try:
        report = run_probe(hook, read_only=args.read_only, wait=args.wait, import_url=args.import_url)
    except Exception as exc:  # no connection, no network: nothing could be checked
        print(f"cincopa-probe: {type(exc).__name__}: {redact(exc)}", file=sys.stderr)
        return 2
    finally:
        hook.close()
    try:
        json_path, md_path = report.write(args.report)
    except OSError as exc:
        print(f"cincopa-probe: cannot write the report: {exc}", file=sys.stderr)
        return 2
    for finding in report.findings:
        if finding.status in ("contradicted", ERROR):
            print(f"{finding.status}: {finding.row}: {finding.evidence}")
    print(f"cincopa-probe: {report.counts()}; report in {json_path} and {md_path}")
    return report.exit_code()
