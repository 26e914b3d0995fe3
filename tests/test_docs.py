"""
The documentation cannot drift from the code: every public module is in the API reference, every
public name has a docstring, every code block of a guide is included from a file the test suite
runs or imports, and every link of the README resolves. (``bash scripts/docs`` builds the site
with warnings as errors; CI runs it.)
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import airflow_provider_cincopa

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
# The emulator's own modules are its implementation; its public face for users is `testing`.
PUBLIC_EMULATOR = {"airflow_provider_cincopa.emulator.testing"}


def public_modules() -> list[str]:
    names = ["airflow_provider_cincopa"]
    for info in pkgutil.walk_packages(airflow_provider_cincopa.__path__, "airflow_provider_cincopa."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or info.ispkg:
            continue
        if parts[1] == "emulator" and info.name not in PUBLIC_EMULATOR:
            continue
        names.append(info.name)
    return sorted(names)


def test_every_public_module_is_in_the_reference():
    listed = set(re.findall(r"\.\. automodule:: (\S+)", (DOCS / "reference.md").read_text()))
    assert set(public_modules()) - listed == set()


@pytest.mark.parametrize("module_name", public_modules())
def test_every_public_name_has_a_docstring(module_name):
    module = importlib.import_module(module_name)
    missing = []
    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module_name:
            continue
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        if not inspect.getdoc(obj):
            missing.append(name)
        if inspect.isclass(obj):
            # Its own methods and those of the provider's mixins it is made of (the hook's API families).
            for klass in obj.__mro__:
                if not klass.__module__.startswith("airflow_provider_cincopa"):
                    continue
                for attr, member in vars(klass).items():
                    if attr.startswith("_") or not inspect.isfunction(member):
                        continue
                    if not inspect.getdoc(getattr(obj, attr)):  # an override inherits its base's
                        missing.append(f"{klass.__name__}.{attr}")
    assert missing == [], f"no docstring: {missing}"


def fences(page: Path) -> list[tuple[str, str]]:
    """(directive, argument and body) of every ``` fence of a MyST page."""
    return re.findall(r"^```(\S*) ?(.*?)^```", page.read_text(), flags=re.M | re.S)


GUIDES = sorted((DOCS / "guides").glob("*.md"))


@pytest.mark.parametrize("page", GUIDES, ids=lambda p: p.name)
def test_guide_code_comes_from_files_the_suite_runs(page):
    for directive, body in fences(page):
        if directive in ("{toctree}", "{eval-rst}"):
            continue
        assert directive == "{literalinclude}", f"{page.name}: a code block written out ({directive or 'plain'})"
        target = (page.parent / body.splitlines()[0].strip()).resolve()
        assert target.is_file(), f"{page.name}: {target} does not exist"
        top = target.relative_to(ROOT).parts[0]
        assert top in ("example_dags", "tests"), f"{page.name}: {target} is not run by the test suite"


@pytest.mark.parametrize("page", sorted(DOCS.glob("*.md")), ids=lambda p: p.name)
def test_every_included_file_exists(page):
    for directive, body in fences(page):
        if directive == "{literalinclude}":
            target = page.parent / body.splitlines()[0].strip()
            assert target.is_file(), f"{page.name}: {target} does not exist"
            for option in re.findall(r"^:(?:start-at|end-before|start-after|end-at): (.+)$", body, flags=re.M):
                assert option.strip('"') in target.read_text(), f"{page.name}: {option!r} is not in {target.name}"


def slug(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_readme_link_resolves():
    readme = (ROOT / "README.md").read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", readme):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        file = ROOT / path
        assert file.exists(), f"README links {target}: no such file"
        if anchor and file.suffix == ".md":
            anchors = {slug(h) for h in re.findall(r"^#+ (.+)$", file.read_text(), flags=re.M)}
            assert anchor in anchors, f"README links {target}: no such heading"
