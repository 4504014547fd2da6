"""Sampling profiles of running cells, in real kernels: the magic, the command line, the
control requests; a cell that ends, an interrupt, an unload; shares that match the work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from harness import Kernel
from ipysigtrace.profile import Profile, own_stacks, top_functions
from ipysigtrace.render.profile import MIME_TYPE
from workloads import SEVENTY_THIRTY as WORKLOAD

pytestmark = pytest.mark.kernel

TOLERANCE = 7.0  # percentage points


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ipysigtrace.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def kernel_id(kernel: Kernel) -> str:
    return os.path.basename(kernel.km.connection_file)[len("kernel-") : -len(".json")]


def assert_70_30(shares: dict[str, float]) -> None:
    assert abs(shares.get("seventy", 0) - 70) <= TOLERANCE, shares
    assert abs(shares.get("thirty", 0) - 30) <= TOLERANCE, shares


def own_shares(profile: Profile) -> dict[str, float]:
    thread = profile.cell_thread()
    assert thread is not None and thread.runs_cell and thread.samples > 0
    rows = top_functions(profile, own_stacks(profile, thread))
    return {r.frame.function: 100 * r.own / thread.samples for r in rows}


def speedscope_shares(data: dict, thread: str = "MainThread") -> dict[str, float]:
    """Own-time shares of the innermost frames of one thread's sampled profile."""
    names = [frame["name"] for frame in data["shared"]["frames"]]
    (chosen,) = [p for p in data["profiles"] if p["name"].startswith(f"{thread} ")]
    assert chosen["type"] == "sampled" and chosen["unit"] in ("none", "seconds")
    leaves: Counter[str] = Counter()
    for stack, weight in zip(chosen["samples"], chosen["weights"], strict=True):
        leaves[names[stack[-1]]] += weight
    whole = sum(leaves.values())
    return {name: 100 * count / whole for name, count in leaves.items()}


def test_command_line_speedscope_70_30_then_interrupt(loaded: Kernel, tmp_path: Path) -> None:
    loaded.execute(WORKLOAD)
    msg_id = loaded.submit("work(600)")
    loaded.wait_until_cell_runs()
    out = tmp_path / "profile.speedscope.json"
    done = cli(
        "profile", kernel_id(loaded), "--seconds", "8", "--format", "speedscope", "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    assert data["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    assert {"name", "file", "line"} <= set(data["shared"]["frames"][0])
    assert_70_30(speedscope_shares(data))
    text = cli("profile", kernel_id(loaded), "--seconds", "2")
    assert text.returncode == 0, text.stderr
    assert "samples in" in text.stdout and "Hz" in text.stdout
    assert "seventy (Cell In[" in text.stdout, text.stdout
    hung = loaded.interrupt_and_check(msg_id)  # the first interrupt still works
    assert "KeyboardInterrupt" in hung.errors[0]["ename"]
    assert not hung.displays, "a profile from the command line adds nothing to the cell"


def test_magic_70_30_shown_when_the_cell_ends(loaded: Kernel) -> None:
    loaded.execute(WORKLOAD)
    armed = loaded.execute("%stackdump --profile 10m").stdout
    assert "profiled at 100 Hz" in armed
    status = loaded.execute("%stackdump --status")  # a cell that starts: it is profiled
    assert "(magic): running" in status.stdout and len(status.displays) <= 1
    first = loaded.execute("work(8)")
    (data,) = first.displays
    assert set(data) == {MIME_TYPE, "text/html", "text/plain"}
    profile = Profile.from_dict(data[MIME_TYPE])
    assert profile.ended == "cell ended" and profile.pid == loaded.pid
    assert profile.ticks > 100 and profile.cell.startswith("Cell In[")
    assert_70_30(own_shares(profile))
    assert "seventy" in data["text/html"] and "<script" not in data["text/html"]
    text = data["text/plain"]
    assert f"{profile.cell_thread().samples:,} samples" in text and "Hz" in text
    # The window stays open for the next cells; --profile off closes it.
    assert len(loaded.execute("work(0.5)").displays) == 1
    assert "profiling stopped" in loaded.execute("%stackdump --profile off").stdout
    assert not loaded.execute("work(0.5)").displays


def test_magic_profile_ends_at_its_duration_while_the_cell_runs(loaded: Kernel) -> None:
    loaded.execute(WORKLOAD)
    loaded.execute("%stackdump --profile 2s")
    msg_id = loaded.submit("work(600)")
    data = loaded.wait_for_display(msg_id, timeout=60)
    profile = Profile.from_dict(data[MIME_TYPE])
    assert profile.ended == "duration"
    hung = loaded.interrupt_and_check(msg_id)
    assert not hung.displays, "shown once, not again when the cell ends"


def test_a_shown_profile_grows_under_its_cell_and_its_end_replaces_it(
    loaded: Kernel, tmp_path: Path
) -> None:
    loaded.execute(WORKLOAD)
    loaded.execute("%stackdump --profile 10m")
    enough = tmp_path / "enough"
    msg_id = loaded.submit(f"import os\nwhile not os.path.exists({str(enough)!r}):\n    work(0.2)")

    def views(seen: list[dict]) -> list[dict]:
        return [m for m in seen if m["msg_type"] in ("display_data", "update_display_data")]

    grown = views(loaded.until(msg_id, lambda seen: len(views(seen)) >= 2, timeout=120))
    assert [m["msg_type"] for m in grown] == ["display_data", "update_display_data"]
    ids = {m["content"]["transient"]["display_id"] for m in grown}
    assert len(ids) == 1 and ids.pop().startswith("ipysigtrace-profile-")
    first, second = (Profile.from_dict(m["content"]["data"][MIME_TYPE]) for m in grown)
    assert first.ended == second.ended == "running"
    assert 0 < first.ticks < second.ticks and first.seconds < second.seconds
    assert "still sampling" in grown[0]["content"]["data"]["text/plain"]
    enough.touch()
    rest = loaded.collect(msg_id)
    assert rest.status == "ok" and not rest.of_type("display_data"), "one view, replaced"
    end = rest.of_type("update_display_data")[-1]["content"]
    assert end["transient"] == grown[0]["content"]["transient"]
    final = Profile.from_dict(end["data"][MIME_TYPE])
    assert final.ended == "cell ended" and final.ticks >= second.ticks
    assert "seventy" in end["data"]["text/html"]
    assert "still sampling" not in end["data"]["text/plain"]
    assert loaded.execute("%stackdump --profile off").status == "ok"


def test_request_across_an_interrupt(loaded: Kernel) -> None:
    loaded.execute(WORKLOAD)
    msg_id = loaded.submit("work(600)")
    loaded.wait_until_cell_runs()
    started = loaded.ask("profile", seconds=600)["content"]
    assert started["status"] == "ok", started
    running = loaded.ask("profile_result", profile_id=started["profile_id"])["content"]
    assert running["state"] == "running" and running["seconds_left"] > 0
    refused = loaded.ask("profile", seconds=5)["content"]
    assert refused["status"] == "error" and "is running" in refused["message"]
    loaded.interrupt_and_check(msg_id)  # one interrupt, as a user gives
    done = loaded.ask("profile_result", profile_id=started["profile_id"])["content"]
    assert done["state"] == "done", done
    profile = Profile.from_dict(done["profile"])
    assert profile.ended == "cell ended" and profile.ticks > 0


def test_bad_requests_get_one_line(loaded: Kernel) -> None:
    idle = loaded.ask("profile", seconds=5)["content"]
    assert idle["status"] == "error" and "no cell is running" in idle["message"]
    for options in ({"seconds": "ten"}, {"seconds": -1}, {"rate": 1e9}, {"seconds": True}):
        reply = loaded.ask("profile", **options)["content"]
        assert reply["status"] == "error" and "must be" in reply["message"], reply
    unknown = loaded.ask("profile_result", profile_id="nope")["content"]
    assert unknown["status"] == "error" and "no profile" in unknown["message"]
    for line in ("--profile banana", "--profile 1s --rate 0", "--profile 2d"):
        stderr = loaded.execute(f"%stackdump {line}").stderr
        assert stderr.startswith("UsageError: --profile"), stderr
        assert "Traceback" not in stderr and len(stderr.strip().splitlines()) == 1, stderr
    assert "no profile was running" in loaded.execute("%stackdump --profile off").stdout
    assert loaded.execute("1 + 1").result == "2"


def test_unload_ends_the_profile_and_leaves_no_thread(loaded: Kernel) -> None:
    loaded.execute(WORKLOAD)
    loaded.execute("%stackdump --profile 10m")
    unloading = loaded.execute("work(0.3)\n%unload_ext ipysigtrace")
    assert not unloading.displays and not unloading.errors
    names = loaded.execute("import threading; sorted(t.name for t in threading.enumerate())").result
    assert "ipysigtrace" not in names, names
    after = loaded.execute("work(0.3)")
    assert not after.displays and not after.errors
    assert loaded.execute("2 + 2").result == "4"


@pytest.mark.parametrize(
    ("ending", "ended"),
    [("run_line_magic('unload_ext', 'ipysigtrace')", "unloaded"),
     ("run_line_magic('stackdump', '--profile off')", "stopped")],
)  # fmt: skip
def test_a_view_that_grew_says_how_its_profile_ended(
    loaded: Kernel, tmp_path: Path, ending: str, ended: str
) -> None:
    loaded.execute(WORKLOAD)
    loaded.execute("%stackdump --profile 10m")
    enough = tmp_path / "enough"
    msg_id = loaded.submit(
        f"import os\nwhile not os.path.exists({str(enough)!r}):\n    work(0.2)\n"
        f"get_ipython().{ending}"
    )
    loaded.until(msg_id, lambda seen: any(m["msg_type"] == "display_data" for m in seen), 120)
    enough.touch()
    rest = loaded.collect(msg_id)
    assert rest.status == "ok" and not rest.of_type("display_data")
    end = rest.of_type("update_display_data")[-1]["content"]
    assert Profile.from_dict(end["data"][MIME_TYPE]).ended == ended
    assert "still sampling" not in end["data"]["text/plain"]


def test_command_line_profile_ends_with_the_cell(loaded: Kernel) -> None:
    loaded.execute(WORKLOAD)
    msg_id = loaded.submit("work(3)")
    loaded.wait_until_cell_runs()
    done = cli("profile", kernel_id(loaded), "--seconds", "3600")
    assert done.returncode == 0, done.stderr
    assert "ended: cell ended" in done.stdout and "seventy" in done.stdout
    assert loaded.collect(msg_id).status == "ok"


def test_command_line_refusals_are_one_line(loaded: Kernel) -> None:
    idle = cli("profile", kernel_id(loaded), "--seconds", "1")
    assert idle.returncode != 0 and idle.stdout == ""
    assert idle.stderr.strip() == (
        f"ipysigtrace: {kernel_id(loaded)}: no cell is running; a profile samples the running cell"
    )
    bad = cli("profile", kernel_id(loaded), "--rate", "0")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
