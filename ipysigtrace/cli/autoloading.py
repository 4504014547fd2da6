"""``ipysigtrace autoload``: drive ``IPySigTrace.autoload`` in the user's IPython profile.

The setting goes in ``profile_default/ipython_kernel_config.json``, merged into what is
there, written atomically with the file's mode kept; a file that is not valid JSON is left
alone with one line. ``status`` says whether kernels load ipysigtrace, and why.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

from .errors import UNREADABLE, Failure

MAX_CONFIG_FILE = 4 * 1024 * 1024  # bytes: the profile's JSON configuration


OLD_STARTUP_NAME = "00-ipysigtrace-autoload.py"


# What `ipysigtrace autoload enable` wrote before autoloading came with the install; only a
# file with exactly this text is removed (an edited one is the user's).
OLD_STARTUP_TEXT = """\
# Written by `ipysigtrace autoload enable`; `ipysigtrace autoload disable` removes it.
# Loads ipysigtrace in every new IPython kernel (not in terminal IPython).
def _ipysigtrace_autoload():
    shell = get_ipython()  # noqa: F821
    if shell is not None and hasattr(shell, "kernel"):
        shell.extension_manager.load_extension("ipysigtrace")
_ipysigtrace_autoload()
del _ipysigtrace_autoload
"""


ENV_CONFIG_MARK = "from ipysigtrace.autoload import configure"


def env_config_file() -> Path:
    """The IPython kernel configuration that ipysigtrace installs into this environment."""
    return Path(sys.prefix) / "etc" / "ipython" / "ipython_kernel_config.py"


def profile_dir() -> Path:
    """The user's default IPython profile (``$IPYTHONDIR/profile_default``)."""
    from IPython.paths import get_ipython_dir

    return Path(get_ipython_dir()) / "profile_default"


def read_json_config(path: Path) -> dict[str, Any] | None:
    """The profile's JSON configuration, or None if there is none; Failure if it is bad."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise Failure(UNREADABLE, f"cannot read {path}: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Failure(UNREADABLE, f"{path} is not a regular file; nothing changed")
        data = os.read(fd, MAX_CONFIG_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_FILE:
        raise Failure(UNREADABLE, f"{path} is larger than {MAX_CONFIG_FILE} bytes; nothing changed")
    try:
        config = json.loads(data) if data.strip() else {}
    except ValueError as exc:
        raise Failure(
            UNREADABLE, f"{path} is not valid JSON ({exc}); fix it first, nothing changed"
        ) from None
    if not isinstance(config, dict) or not isinstance(config.get("IPySigTrace", {}), dict):
        raise Failure(
            UNREADABLE,
            f"{path} is not an IPython configuration (an object of sections); nothing changed",
        )
    return config


def write_json_config(path: Path, config: dict[str, Any]) -> None:
    """Replace the file atomically (a temporary file, then rename), keeping its mode.

    A symlink is followed: the file it points to is replaced, the link stays.
    """
    real = Path(os.path.realpath(path))
    real.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(os.stat(real).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    fd, temporary = tempfile.mkstemp(prefix=f".{real.name}.", dir=real.parent)
    try:
        with os.fdopen(fd, "w") as file:
            json.dump(config, file, indent=2)
            file.write("\n")
            file.flush()
            os.fchmod(file.fileno(), mode)
            os.fsync(file.fileno())
        os.replace(temporary, real)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def remove_old_startup() -> str | None:
    """Remove the startup file an earlier ipysigtrace wrote; a line saying so, or None.

    It loads ipysigtrace in every kernel whatever the setting says, so both ``enable`` and
    ``disable`` take it away, but only if it is exactly what that version wrote.
    """
    path = profile_dir() / "startup" / OLD_STARTUP_NAME
    try:
        text = path.read_text() if path.is_file() and not path.is_symlink() else None
    except (OSError, UnicodeDecodeError):
        text = None
    if text == OLD_STARTUP_TEXT:
        path.unlink()
        return f"removed {path}, the startup file of an earlier ipysigtrace"
    if path.exists() or path.is_symlink():
        return f"left {path} alone: it is not the file an earlier ipysigtrace wrote"
    return None


def command_autoload(args: argparse.Namespace) -> int:
    if args.action == "status":
        for line in autoload_status():
            print(line)
        return 0
    path = profile_dir() / "ipython_kernel_config.json"
    config = read_json_config(path)
    section = (config or {}).get("IPySigTrace", {})
    notes = []
    if args.action == "disable":
        if config is not None and section.get("autoload") is False:
            notes.append(f"autoload already disabled: IPySigTrace.autoload is false in {path}")
        else:
            config = config or {}
            config["IPySigTrace"] = {**section, "autoload": False}
            write_json_config(path, config)
            notes.append(
                f"autoload disabled: IPySigTrace.autoload = false in {path}; kernels started "
                "from now on do not load ipysigtrace"
            )
    else:
        if config is not None and "autoload" in section:
            rest = {k: v for k, v in section.items() if k != "autoload"}
            if rest:
                config["IPySigTrace"] = rest
            else:
                del config["IPySigTrace"]
            write_json_config(path, config)
            notes.append(f"autoload enabled: removed IPySigTrace.autoload from {path}")
        else:
            notes.append(f"autoload: {path} does not set IPySigTrace.autoload; nothing to remove")
    old = remove_old_startup()
    if old:
        notes.append(old)
    if args.action == "enable":
        on, why = autoload_reason()
        notes.append(f"new kernels {'load' if on else 'still do not load'} ipysigtrace: {why}")
    for line in notes:
        print(line)
    return 0


def autoload_reason() -> tuple[bool, str]:
    """Whether new kernels of this environment load ipysigtrace, and why, in one line."""
    from ..autoload import ENV_SWITCH, enabled_by_environment

    env_file = env_config_file()
    try:
        ours = ENV_CONFIG_MARK in env_file.read_text(errors="replace")
    except OSError:
        return False, f"this environment has no {env_file} (reinstall ipysigtrace)"
    if not ours:
        return False, f"{env_file} is not the file ipysigtrace installs (reinstall ipysigtrace)"
    if not enabled_by_environment():
        value = os.environ.get(ENV_SWITCH, "")
        return False, f"{ENV_SWITCH}={value} in this environment (kernels started from it)"
    path = profile_dir() / "ipython_kernel_config.json"
    try:
        setting = ((read_json_config(path) or {}).get("IPySigTrace") or {}).get("autoload")
    except Failure:
        return True, f"{env_file} loads it; {path} cannot be read, so kernels ignore it"
    if setting is False:
        return False, f"IPySigTrace.autoload is false in {path}"
    if setting is True:
        return True, f"IPySigTrace.autoload is true in {path}, and {env_file} is installed"
    return True, f"{env_file} loads it and nothing here turns it off"


def autoload_status() -> list[str]:
    """``autoload status``: on or off and why, then what else has a say."""
    on, why = autoload_reason()
    lines = [f"autoload {'on' if on else 'off'}: {why}"]
    profile = profile_dir()
    python_config = profile / "ipython_kernel_config.py"
    with contextlib.suppress(OSError):
        if "IPySigTrace.autoload" in python_config.read_text(errors="replace"):
            lines.append(
                f"note: {python_config} mentions IPySigTrace.autoload (the .json beside it wins)"
            )
    startup = profile / "startup" / OLD_STARTUP_NAME
    if startup.exists():
        lines.append(
            f"note: {startup} loads ipysigtrace in every kernel whatever the setting; "
            "`ipysigtrace autoload enable` or `disable` removes it"
        )
    lines += kernelspec_notes()
    return lines


def kernelspec_notes() -> list[str]:
    """Kernel specs whose environment switches autoloading off."""
    from ..autoload import ENV_SWITCH

    try:
        from jupyter_client.kernelspec import KernelSpecManager

        specs = KernelSpecManager().get_all_specs()
    except Exception:  # a broken kernel spec must not break `status`
        return []
    notes = []
    for name, spec in sorted(specs.items()):
        value = str(((spec.get("spec") or {}).get("env") or {}).get(ENV_SWITCH, "1"))
        if value.strip().lower() in ("0", "false", "no", "off"):
            notes.append(
                f"note: kernel spec {name!r} sets {ENV_SWITCH}={value}: its kernels skip it"
            )
    return notes
