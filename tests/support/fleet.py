"""Generated fleets for tests: the benchmark generator, importable from tests."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from fleetgen import generate

__all__ = ["generate"]
