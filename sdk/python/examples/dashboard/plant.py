"""The data source both dashboards show: a simulated machine, sampled at 50 Hz.

It stands in for whatever your process measures: a motor's temperature, its pressure and speed.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

RATE_HZ = 50
"""How often the dashboards sample the plant."""


@dataclass
class Reading:
    """One sample of the plant."""

    t: float
    temperature: float
    pressure: float
    rpm: float


class Plant:
    """A motor warming up under a load that changes every few seconds."""

    def __init__(self, seed: int = 1) -> None:
        self._random = random.Random(seed)
        self._temperature = 20.0

    def read(self, t: float) -> Reading:
        """The plant's state at time ``t`` (seconds)."""
        load = 0.5 + 0.4 * math.sin(t / 3.0)
        self._temperature += (20.0 + 60.0 * load - self._temperature) / (10.0 * RATE_HZ)
        pressure = 1.0 + 0.3 * load + self._random.gauss(0.0, 0.01)
        rpm = 1500.0 + 900.0 * load + self._random.gauss(0.0, 5.0)
        return Reading(t, self._temperature, pressure, rpm)
