"""The version is written once, in labextension/package.json; everything else reads it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import ipysigtrace
from ipysigtrace.widget import MODULE_VERSION

ROOT = Path(__file__).parents[2]


def written() -> str:
    return str(json.loads((ROOT / "labextension" / "package.json").read_text())["version"])


def test_the_package_and_the_widget_carry_the_version_of_package_json() -> None:
    assert ipysigtrace.__version__ == written()
    assert f"^{written()}" == MODULE_VERSION


def test_no_other_file_writes_a_version_number() -> None:
    # `__version__ = "0.1.0"`, `MODULE_VERSION = "^0.1.0"`, `version = "0.1.0"` and the like.
    pattern = re.compile(r"""version\w*\s*[=:]\s*["'^]+\d+\.\d+\.\d+""", re.IGNORECASE)
    sources = [*(ROOT / "ipysigtrace").rglob("*.py"), *(ROOT / "labextension" / "src").glob("*.ts")]
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in [*sources, ROOT / "pyproject.toml"]
        for match in pattern.finditer(path.read_text())
    ]
    assert found == []
