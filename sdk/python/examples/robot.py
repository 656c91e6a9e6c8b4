"""A robot-like producer: an IMU at 1 kHz, a lidar cloud at 10 Hz, the path it drives, and events.

    python robot.py --spawn          # or --url ws://HOST:PORT/ingest

The IMU is logged one sample per call, as a driver's callback would: ``vz.log`` only appends to
a queue (a few microseconds), and the library sends each stream's samples as one columnar
message every few milliseconds. The lidar cloud (20,000 points, coloured by height) goes as
compact float32 and uint8 arrays; the path grows with ``append``.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import vizcast as vz

IMU_HZ = 1000
LIDAR_HZ = 10
LIDAR_POINTS = 20_000


def lidar_scan(rng: np.random.Generator, x: float, y: float, heading: float) -> tuple[np.ndarray, np.ndarray]:
    """A ring of walls and pillars around the robot, in world coordinates, and colours by height."""
    angles = rng.uniform(0, 2 * math.pi, LIDAR_POINTS)
    ranges = 4.0 + 0.5 * np.sin(6 * angles + heading) + rng.normal(0, 0.02, LIDAR_POINTS)
    z = rng.uniform(0.0, 1.5, LIDAR_POINTS)
    xyz = np.stack([x + ranges * np.cos(angles), y + ranges * np.sin(angles), z], axis=1).astype(np.float32)
    height = (z / 1.5 * 255).astype(np.uint8)
    rgb = np.stack([height, 255 - height, np.full_like(height, 128)], axis=1)
    return xyz, rgb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="the hub's ingest URL (default: VIZCAST_URL or ws://127.0.0.1:9000/ingest)")
    parser.add_argument("--spawn", action="store_true", help="start a local vizcast first")
    parser.add_argument("--seconds", type=float, default=float("inf"), help="stop after this long")
    args = parser.parse_args()
    if args.spawn:
        vz.spawn()
    else:
        vz.connect(args.url)

    rng = np.random.default_rng(3)
    vz.clear("robot")
    vz.text("robot/events", "driving a circle", level="info")
    vz.line("robot/path", [[0.0, 0.0, 0.0]], color="#22c55e", width=2)
    start = time.time()
    tick = 0
    while True:
        now = time.time()
        elapsed = now - start
        if elapsed >= args.seconds:
            break
        heading = elapsed * 0.5
        vz.log(
            "robot/imu",
            ax=-0.5 * math.sin(heading) + rng.normal(0, 0.05),
            ay=0.5 * math.cos(heading) + rng.normal(0, 0.05),
            az=9.81 + rng.normal(0, 0.02),
            gz=0.5 + rng.normal(0, 0.01),
            t=now,
        )
        if tick % (IMU_HZ // LIDAR_HZ) == 0:
            x, y = 2 * math.sin(heading), 2 - 2 * math.cos(heading)
            xyz, rgb = lidar_scan(rng, x, y, heading)
            vz.points("robot/lidar", xyz, colors=rgb, radius=0.02, t=now)
            vz.line("robot/path", [[x, y, 0.0]], append=True, t=now)
            vz.log("robot/battery", 12.6 - elapsed * 0.001, t=now)
        if tick % (5 * IMU_HZ) == 0 and tick:
            vz.text("robot/events", f"lap progress {heading / (2 * math.pi):.0%}", t=now)
        tick += 1
        time.sleep(max(0.0, start + tick / IMU_HZ - time.time()))
    vz.close()


if __name__ == "__main__":
    main()
