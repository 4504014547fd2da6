"""Write the core package file of the oldest JupyterLab we support, for the lab extension build.

The builder of the lab extension reads a "core package file" to learn which version of
each shared module (@jupyterlab/*, @lumino/*) the bundle asks the page for. A bundle built
against a newer JupyterLab asks for that JupyterLab's versions, and every older JupyterLab
logs "Unsatisfied version ... of shared singleton module" for each of them. So the build
uses the oldest supported JupyterLab's own file.

npm publishes that file as @jupyterlab/core-meta from JupyterLab 4.6 on only. For older
releases it is `jupyterlab/staging/package.json` inside the jupyterlab wheel (the same
bytes as at the release's git tag, where jupyter-builder itself looks when npm has none).
This script reads it from the wheel on PyPI and writes only the facts the builder uses
(`@jupyter/builder`'s extensionConfig.js reads `dependencies`, `resolutions` and
`jupyterlab.singletonPackages`): which packages are shared, at which versions;
`--check` says whether the committed file still matches the wheel.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VERSION = "4.0.0"
MEMBER = "jupyterlab/staging/package.json"


def target(version: str) -> Path:
    """Where the build (labextension/package.json) reads the file from."""
    return ROOT / "labextension" / f"jupyterlab-{version}.core.package.json"


def from_wheel(version: str) -> bytes:
    """The shared-package facts of JupyterLab `version`, read from its wheel on PyPI."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                tmp,
                f"jupyterlab=={version}",
            ],
            check=True,
        )
        (wheel,) = Path(tmp).glob("jupyterlab-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(MEMBER)
    meta = json.loads(data)
    if meta.get("name") != "@jupyterlab/application-top" or meta.get("version") != version:
        raise SystemExit(f"{wheel.name}: {MEMBER} is not JupyterLab {version}'s core package file")
    facts = {
        "description": (
            f"The shared packages of JupyterLab {version} and their versions, taken from its "
            f"wheel's {MEMBER} by scripts/lab_core_package.py: what the lab extension's "
            "bundle asks the page for."
        ),
        "name": meta["name"],
        "version": meta["version"],
        "dependencies": meta.get("dependencies", {}),
        "resolutions": meta.get("resolutions", {}),
        "jupyterlab": {"singletonPackages": meta["jupyterlab"]["singletonPackages"]},
    }
    return (json.dumps(facts, indent=2, sort_keys=False) + "\n").encode()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=DEFAULT_VERSION, help="JupyterLab version")
    parser.add_argument(
        "--check", action="store_true", help="compare the committed file with the wheel's"
    )
    args = parser.parse_args()
    path = target(args.version)
    data = from_wheel(args.version)
    if args.check:
        if not path.exists() or path.read_bytes() != data:
            print(f"{path.relative_to(ROOT)} differs from JupyterLab {args.version}'s {MEMBER}")
            return 1
        print(f"{path.relative_to(ROOT)} matches JupyterLab {args.version}'s {MEMBER}")
        return 0
    path.write_bytes(data)
    print(f"wrote {path.relative_to(ROOT)} from JupyterLab {args.version}'s wheel")
    return 0


if __name__ == "__main__":
    sys.exit(main())
