"""The benchmark of docs/python.md still runs (with small counts: no figure is checked here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import SDK, vizcast_bin


def test_the_benchmark_runs(tmp_path: Path) -> None:
    out = tmp_path / "figures.json"
    env = {**os.environ, "VIZCAST_BIN": vizcast_bin()}
    subprocess.run(
        [sys.executable, str(SDK / "benchmarks" / "bench.py"), "--quick", "--json", str(out)],
        env=env,
        check=True,
        timeout=600,
        capture_output=True,
    )
    figures = json.loads(out.read_text())
    assert {"vz.log", "json.dumps", "foxglove.log"} <= set(figures["scalar_log"])
    assert figures["scalar_log"]["foxglove.log"]["received"] > 0, "foxglove.log was measured with a subscriber"
    assert len(figures["columns"]) == 4
    assert set(figures["cloud_100k_30hz"]) == {"vz.points", "json lists by hand"}
    assert figures["hub_rejected"] == 0
