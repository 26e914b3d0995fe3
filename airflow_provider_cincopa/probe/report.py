"""The probe's findings and the report a user attaches to a bug report (JSON and Markdown)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow_provider_cincopa import __version__
from airflow_provider_cincopa.redaction import redact

CONFIRMED = "confirmed"
CONTRADICTED = "contradicted"
NOT_CHECKED = "not checked"
#: The probe itself failed (network down, an answer it could not read): exit code 2.
ERROR = "error"
STATUSES = (CONFIRMED, CONTRADICTED, NOT_CHECKED, ERROR)


@dataclass
class Finding:
    """
    What the API answered to one assumption.

    :param row: the row of docs/api-coverage.md (its first column: a method or a name).
    :param assumption: what the provider assumes, in a sentence.
    :param status: ``confirmed``, ``contradicted``, ``not checked`` or ``error`` (the probe failed).
    :param evidence: what was sent and answered, redacted; or why it was not checked.
    """

    row: str
    assumption: str
    status: str = NOT_CHECKED
    evidence: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown probe status {self.status!r}; known: {STATUSES}")
        # Every value that reaches a report passes here: the report is made to be shared.
        self.evidence = redact(self.evidence)


@dataclass
class Report:
    """
    Every finding of one probe run.

    :param api: the API base URL probed (redacted).
    :param read_only: True when the probe wrote nothing.
    """

    api: str
    read_only: bool
    findings: list[Finding] = field(default_factory=list)
    #: When the probe ran (UTC, ISO 8601) and the client's User-Agent: provider, Python, OS.
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    client: str = field(default_factory=lambda: _client())

    def add(self, finding: Finding) -> None:
        """Record one finding."""
        self.findings.append(finding)

    def counts(self) -> dict[str, int]:
        """How many findings have each status."""
        return {status: sum(f.status == status for f in self.findings) for status in STATUSES}

    def exit_code(self) -> int:
        """0 when nothing was contradicted, 1 when something was, 2 when the probe failed."""
        counts = self.counts()
        if counts[ERROR]:
            return 2
        return 1 if counts[CONTRADICTED] else 0

    def as_dict(self) -> dict[str, Any]:
        """The JSON report."""
        return {
            "probe": f"airflow-provider-cincopa {__version__}",
            "client": self.client,
            "created": self.created,
            "api": redact(self.api),
            "read_only": self.read_only,
            "counts": self.counts(),
            "findings": [asdict(f) for f in self.findings],
        }

    def markdown(self) -> str:
        """The readable report: a summary line and one table row per finding."""
        counts = ", ".join(f"{n} {status}" for status, n in self.counts().items())
        lines = [
            "# Cincopa conformance probe",
            "",
            f"airflow-provider-cincopa {__version__} against `{redact(self.api)}`"
            f"{' (read-only)' if self.read_only else ''} at {self.created}: {counts}.",
            "",
            f"Client: {self.client}.",
            "",
            "| row of docs/api-coverage.md | assumption | status | evidence |",
            "|---|---|---|---|",
        ]
        lines += [f"| `{f.row}` | {_cell(f.assumption)} | {f.status} | {_cell(f.evidence)} |" for f in self.findings]
        return "\n".join(lines) + "\n"

    def write(self, base: str | Path) -> tuple[Path, Path]:
        """Write ``<base>.json`` and ``<base>.md``; return both paths."""
        base = Path(base)
        if base.suffix in (".json", ".md"):
            base = base.with_suffix("")
        json_path, md_path = base.with_name(base.name + ".json"), base.with_name(base.name + ".md")
        json_path.write_text(json.dumps(self.as_dict(), indent=2) + "\n", encoding="utf-8")
        md_path.write_text(self.markdown(), encoding="utf-8")
        return json_path, md_path


def _client() -> str:
    from airflow_provider_cincopa.hooks.cincopa import user_agent

    return user_agent()


def _cell(text: str) -> str:
    # One table cell: no line breaks, no column separators.
    return " ".join(text.split()).replace("|", "\\|")
