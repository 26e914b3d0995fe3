"""
``cincopa-probe``: check what the provider assumes about Cincopa's API against a real account.

Every assumption docs/api-coverage.md lists is one :class:`~.report.Finding`: confirmed,
contradicted, not checked (and why), or a probe error, with redacted evidence. The report (JSON
and Markdown) is meant to be attached to a bug report. See docs/probe.md.
"""

from __future__ import annotations

from airflow_provider_cincopa.probe.report import Finding, Report
from airflow_provider_cincopa.probe.run import run_probe

__all__ = ["Finding", "Report", "run_probe"]
