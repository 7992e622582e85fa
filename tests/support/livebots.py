"""The demo simulator's live bots for CLI tests: point the CLI at it, read and edit its bots.

``use_demo_sim`` resets the simulator and sets the demo environment, ``live_bot`` reads
a workspace's live bot through the admin API and ``edit_bot`` replaces it, as an edit
in the Cognigy UI would.
"""

from __future__ import annotations

from typing import Any

import pytest

from support.demo import DEMO_ENV
from support.simserver import SimServer

__all__ = ["edit_bot", "live_bot", "use_demo_sim"]


def use_demo_sim(sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Back to the simulator's start state; the CLI talks to it with the demo's client and secrets."""
    sim.admin("POST", "/_sim/reset").raise_for_status()
    for key, value in DEMO_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("COGNIGY_BASE_URL", sim.base_url)


def live_bot(sim: SimServer, workspace: str) -> dict[str, Any]:
    """The support bot live in ``workspace``."""
    state = sim.admin("GET", "/_sim/state").json()
    return dict(state["workspaces"][workspace]["bots"]["support-bot"])


def edit_bot(sim: SimServer, workspace: str, model: dict[str, Any]) -> None:
    """Replace the live support bot of ``workspace`` with ``model`` (the simulator's side door)."""
    model = {k: v for k, v in model.items() if k != "version"}
    sim.admin(
        "PUT", f"/_sim/workspaces/{workspace}/bots/support-bot", json=model
    ).raise_for_status()
