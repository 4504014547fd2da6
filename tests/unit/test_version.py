"""The version is written once, in labextension/package.json; everything else reads it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import ipysigtrace
from ipysigtrace.widget import MODULE_VERSION, module_version

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


@pytest.mark.parametrize(
    ("python", "npm_range"),
    [
        ("0.1.0", "^0.1.0"),
        ("0.2.0rc1", "^0.2.0-0"),  # npm's 0.2.0-rc.1, as Python metadata spells it
        ("0.2.0a1", "^0.2.0-0"),
        ("0.2.0.dev3", "^0.2.0-0"),
        ("1.2.3+local", "^1.2.3"),
        ("0+unknown", "*"),  # a source tree that was never installed
    ],
)
def test_the_widget_asks_for_a_semver_range_npm_understands(python: str, npm_range: str) -> None:
    assert module_version(python) == npm_range
