"""
The package's metadata as installed; scripts/check-package checks the built wheel itself (py.typed,
LICENSE, entry points, the emulator) and the wheel installed in a clean virtualenv.

These read the metadata of the installed distribution (the editable install of scripts/bootstrap
builds it from pyproject.toml as the wheel does), so they fail as soon as pyproject.toml loses a
classifier, publishes a development extra or drifts from the Airflow releases CI tests.
"""

from __future__ import annotations

import re
from importlib.metadata import distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[1]


def _requirement(name: str) -> Requirement:
    requirements = [Requirement(r) for r in distribution("airflow-provider-cincopa").requires or []]
    found = [r for r in requirements if r.name == name and r.marker is None]
    assert len(found) == 1, f"{name} is not declared once as a plain dependency: {requirements}"
    return found[0]


def test_metadata_declares_license_classifiers_and_user_extras_only() -> None:
    metadata = distribution("airflow-provider-cincopa").metadata
    assert metadata["License-Expression"] == "Apache-2.0"
    classifiers = set(metadata.get_all("Classifier") or [])
    assert {"Framework :: Apache Airflow", "Framework :: Apache Airflow :: Provider", "Typing :: Typed"} <= classifiers
    # Development tools are dependency groups (PEP 735), never extras users could install.
    assert set(metadata.get_all("Provides-Extra") or []) == {"emulator", "openlineage", "s3", "gcs"}


def test_common_compat_is_declared() -> None:
    # The package imports airflow.providers.common.compat (the OpenLineage Dataset).
    assert _requirement("apache-airflow-providers-common-compat").specifier


def test_lowest_airflow_accepted_is_the_one_ci_tests() -> None:
    tested = re.findall(r"AIRFLOW_VERSION=(\d+\.\d+\.\d+)", (ROOT / ".ci" / "run").read_text())
    assert tested, ".ci/run names no Airflow release"
    lowest = min(tested, key=lambda v: tuple(map(int, v.split("."))))
    assert str(_requirement("apache-airflow").specifier) == f">={lowest}"
