"""The package as a user gets it: a wheel built from sdk/python, installed into a fresh venv."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import SDK, Hub

SMOKE = textwrap.dedent(
    """
    import importlib.resources, importlib.util, json, sys
    import vizcast as vz

    assert importlib.util.find_spec("numpy") is None, "this venv has no numpy: the pure-Python path"
    assert importlib.resources.files("vizcast").joinpath("py.typed").is_file()
    client = vz.connect(sys.argv[1])
    for i in range(1000):
        vz.log("count", i)
    vz.log("imu", ax=0.1, ay=-9.8)
    vz.columns("signal", t=[0.0, 0.001, 0.002], value=[1.0, 1.2, 0.9])
    vz.points("lidar", [[0.1, 2.0, 0.5], [0.2, 2.1, 0.4]], colors=[[255, 0, 0], [0, 255, 0]], radius=0.02)
    vz.line("path", [[0, 0, 0], [1, 0, 0]]); vz.line("path", [[1, 1, 0]], append=True)
    vz.text("events", "calibrated", level="info")
    vz.image("cam/png", bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000020000000108020000007b40e8dd0000000d4944"
        "4154789c63f8cf0004ff01070001ffe2239e590000000049454e44ae426082"))
    vz.image("cam/mono", b"\\x00\\x01\\x02\\xff", shape=(2, 2), dtype="u8")
    vz.clear("robot")
    assert vz.flush(30)
    status = vz.status()
    vz.close()
    print(json.dumps({"version": vz.__version__, "logged": status.logged, "sent": status.sent,
                      "dropped": status.dropped, "rejected": status.rejected, "file": vz.__file__}))
    """
)


def test_the_wheel_installs_into_a_fresh_venv_and_works(tmp_path: Path, hub: Hub) -> None:
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", ".*_cache", "build", "dist", "*.egg-info")
    shutil.copytree(SDK, source, ignore=ignore)
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("vizcast-*-py3-none-any.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        check=True,
        timeout=300,
    )
    result = subprocess.run(
        [str(python), "-c", SMOKE, hub.ingest_url],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["file"].startswith(str(venv)), "imported from the installed wheel"
    assert report["logged"] == report["sent"] == 1000 + 1 + 3 + 1 + 2 + 1 + 2 + 1
    assert report["dropped"] == report["rejected"] == 0
    ingest = hub.wait_ingest(lambda ingest: ingest["samples"] >= 1000)
    assert ingest["rejected"] == 0
