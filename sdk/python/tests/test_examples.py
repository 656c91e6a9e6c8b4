"""Every example runs, and a real vizcast accepts all of its frames."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from conftest import SDK, Hub

EXAMPLES = SDK / "examples"


def streams(hub: Hub) -> dict[str, dict[str, object]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{hub.port}/api/streams", timeout=10) as response:
        return {s["name"]: s for s in json.loads(response.read())}


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("dashboard/after_vizcast.py", {"plant/temperature", "plant/pressure", "plant/rpm"}),
        ("heat_equation.py", {"sim/heat", "sim/plate/total", "sim/plate/peak", "sim/events"}),
        ("robot.py", {"robot/imu/ax", "robot/imu/gz", "robot/lidar", "robot/path", "robot/battery", "robot/events"}),
    ],
)
def test_an_example_runs_and_its_frames_are_accepted(hub: Hub, script: str, expected: set[str]) -> None:
    env = {**os.environ, "PYTHONPATH": str(SDK / "src")}
    subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--url", hub.ingest_url, "--seconds", "1.5"],
        env=env,
        check=True,
        timeout=120,
    )
    ingest = hub.stats()["ingest"]
    assert ingest["frames"] > 0
    assert ingest["rejected"] == 0
    assert expected <= set(streams(hub))


def test_the_robot_sends_every_imu_sample(hub: Hub) -> None:
    env = {**os.environ, "PYTHONPATH": str(SDK / "src")}
    subprocess.run(
        [sys.executable, str(EXAMPLES / "robot.py"), "--url", hub.ingest_url, "--seconds", "1"],
        env=env,
        check=True,
        timeout=120,
    )
    imu = streams(hub)["robot/imu/ax"]
    assert 100 <= int(imu["samples"]) <= 1000  # type: ignore[call-overload]


def test_the_flask_dashboard_renders_its_png(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES / "dashboard"))
    before = importlib.import_module("before_flask")
    plant = importlib.import_module("plant").Plant()
    for i in range(100):
        before._readings.append(plant.read(i / 50))
    client = before.app.test_client()
    assert b"/plot.png" in client.get("/").data
    png = client.get("/plot.png")
    assert png.mimetype == "image/png" and png.data.startswith(b"\x89PNG\r\n\x1a\n")


def test_the_dashboard_readme_shows_the_real_diff() -> None:
    """The README quotes both files' key lines; keep it honest when they change."""
    readme = (EXAMPLES / "dashboard" / "README.md").read_text()
    after = (EXAMPLES / "dashboard" / "after_vizcast.py").read_text()
    for line in readme.splitlines():
        if line.startswith("+ ") and "vz." in line:
            assert line[2:].strip() in after, line


def test_the_examples_keep_their_docs(tmp_path: Path) -> None:
    for path in EXAMPLES.rglob("*.py"):
        text = path.read_text()
        assert text.startswith('"""'), f"{path} opens with a docstring saying what it shows"
