"""Sphinx configuration of the airflow-provider-cincopa documentation (``bash scripts/docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).parent
sys.path[:0] = [str(DOCS.parent), str(DOCS / "_ext")]

from airflow_provider_cincopa import __version__  # noqa: E402

project = "airflow-provider-cincopa"
author = "airflow-provider-cincopa contributors"
copyright = "2026, airflow-provider-cincopa contributors"
release = version = __version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "cincopa_figures",  # docs/_ext: figures drawn from docs/data when the site builds
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"airflow-provider-cincopa {release}"

autodoc_default_options = {"members": True, "show-inheritance": True, "member-order": "bysource"}
autodoc_typehints = "description"
autodoc_class_signature = "separated"

# Every warning is an error (-W -n): a broken link or cross-reference fails the build. Names from
# outside the provider (Airflow, the standard library, requests, httpx...) are not documented
# here, so references to them are not checked.
nitpick_ignore_regex = [
    # Private modules (a leading underscore) are implementation: their bases show in signatures.
    ("py:.*", r"airflow_provider_cincopa(\..*)?\._.*"),
    ("py:.*", r"os\..*"),
    ("py:.*", r"airflow_provider_cincopa\..*\.T"),  # type variables
    (
        "py:.*",
        r"(airflow|requests|httpx|tenacity|jinja2|logging|threading|asyncio|pathlib|datetime|"
        r"collections|typing|urllib|subprocess|fastapi|starlette|upath|fsspec|cryptography|contextlib)(\..*)?",
    ),
    (
        "py:.*",
        r"(Any|Context|Connection|ObjectStoragePath|TriggerEvent|SplitResult|Asset|Callable|Iterator|"
        r"AsyncIterator|Sequence|Mapping|Path|Retrying|BaseHook|BaseOperator|BaseSensorOperator|BaseTrigger|"
        r"BaseEventTrigger|BaseOperatorLink|PokeReturnValue|TaskInstanceKey|Popen|Event|Logger|T|"
        r"ProgressCallback|ResumeState|ConnectionSettings|CincopaHook|UploadFromUrlStatus|UploadResult|"
        r"DownloadResult|ExportResult|RestoreResult|RestoringHost|UploadingHost|LineageHost|Destination|Writer|Progress|"
        r"json|dict|list|str|int|float|bool|bytes|None|NoneType|object)",
    ),
]
