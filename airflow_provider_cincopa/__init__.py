"""Apache Airflow provider for Cincopa, the video and media hosting platform."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "get_provider_info"]


def get_provider_info() -> dict[str, Any]:
    """
    Describe the provider to Airflow (the ``apache_airflow_provider`` entry point).

    The connection form is declared here (``conn-fields`` and ``ui-field-behaviour``) rather than
    through the hook's ``get_ui_field_behaviour``, which Airflow deprecated in 3.2.
    """
    return {
        "package-name": "airflow-provider-cincopa",
        "name": "Cincopa",
        "description": "`Cincopa <https://www.cincopa.com/>`__ video and media hosting: "
        "uploads, metadata, galleries, webhooks and portals through the REST API v2.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Cincopa",
                "external-doc-url": "https://www.cincopa.com/media-platform/api-documentation-v2",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Cincopa",
                "python-modules": ["airflow_provider_cincopa.hooks.cincopa"],
            }
        ],
        "operators": [
            {
                "integration-name": "Cincopa",
                "python-modules": [
                    "airflow_provider_cincopa.operators.cincopa",
                    "airflow_provider_cincopa.operators.export",
                    "airflow_provider_cincopa.operators.galleries",
                    "airflow_provider_cincopa.operators.playback",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "Cincopa",
                "python-modules": ["airflow_provider_cincopa.sensors.cincopa"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Cincopa",
                "python-modules": [
                    "airflow_provider_cincopa.triggers.cincopa",
                    "airflow_provider_cincopa.triggers.events",
                ],
            }
        ],
        # Cincopa media items as Airflow Assets: cincopa://asset/<rid> (assets.py).
        "asset-uris": [
            {
                "schemes": ["cincopa"],
                "handler": "airflow_provider_cincopa.assets.sanitize_uri",
                "to_openlineage_converter": "airflow_provider_cincopa.assets.convert_asset_to_openlineage",
            }
        ],
        "extra-links": ["airflow_provider_cincopa.links.cincopa.CincopaAssetLink"],
        "connection-types": [
            {
                "connection-type": "cincopa",
                "hook-class-name": "airflow_provider_cincopa.hooks.cincopa.CincopaHook",
                "hook-name": "Cincopa",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login"],
                    "relabeling": {"password": "API token", "host": "API base URL"},
                    "placeholders": {
                        "password": "api_token from your Cincopa dashboard (API tokens page)",
                        "host": "https://api.cincopa.com/v2/",
                    },
                },
                "conn-fields": {
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "description": "Timeout for each API call and each upload chunk.",
                        "schema": {"type": ["number", "null"], "default": 60, "minimum": 1},
                    },
                    "retries": {
                        "label": "Retry count",
                        "description": "How many times a failed call or upload chunk is retried "
                        "(network errors, HTTP 429 and 5xx). 403 and refusals are never retried.",
                        "schema": {"type": ["integer", "null"], "default": 10, "minimum": 0},
                    },
                    "retry_deadline": {
                        "label": "Retry deadline (seconds)",
                        "description": "Give up retrying a call after this many seconds in total.",
                        "schema": {"type": ["number", "null"], "default": 300, "minimum": 0},
                    },
                    "max_parallel_chunks": {
                        "label": "Parallel upload chunks",
                        "description": "The most chunks of one upload in flight at once, for every "
                        "upload on this connection (1 sends one at a time, as Cincopa's own uploader "
                        "does). A task's own max_parallel_chunks wins.",
                        "schema": {"type": ["integer", "null"], "default": 4, "minimum": 1},
                    },
                    "dashboard_url_template": {
                        "label": "Dashboard URL template",
                        "description": "Where the task's 'Cincopa asset' link points, with a {rid} "
                        "placeholder. The default is a guess: no public source documents it.",
                        "schema": {"type": ["string", "null"]},
                    },
                },
            }
        ],
    }
