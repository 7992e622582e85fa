"""Write demo/sim-state/state.json: the example fleet as the simulator first serves it.

Usage: . demo/env.sh && python demo/seed_state.py

- acme, umbrella, wayne: deployed exactly as rendered today;
- initech: deployed from an older config (before it disabled two intents): a pending change;
- globex: deployed as rendered, then edited "in the Cognigy UI": drift;
- stark: a new tenant, its workspace has no bot yet;
- roles: acme lacks bob and still has a departed contractor; umbrella manages roles
  and keeps none, but has a stray user.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

from tenantops.config import load_project
from tenantops.config.fleet import Fleet

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo/sim-state/state.json"


def main() -> None:
    fleet = Fleet(load_project(ROOT))
    models = {p.stem: fleet.build(p).model for p in fleet.tenant_paths()}
    base = json.loads((ROOT / "templates/support-bot/base.json").read_text())

    initech = copy.deepcopy(models["initech"])
    assert initech is not None
    initech["intents"] += [
        i for i in base["intents"] if i["name"] in ("price_match", "international_shipping")
    ]

    globex = copy.deepcopy(models["globex"])
    assert globex is not None
    for intent in globex["intents"]:
        if intent["name"] == "order_status":
            intent["examples"].append("wo ist mein Paket")
    globex["metadata"]["maxRetries"] = 9

    workspaces: dict[str, dict[str, object]] = {
        f"ws-{name}": {"bots": {"support-bot": model}}
        for name, model in (
            ("acme", models["acme"]),
            ("umbrella", models["umbrella"]),
            ("wayne", models["wayne"]),
            ("initech", initech),
            ("globex", globex),
        )
    }
    workspaces["ws-stark"] = {"bots": {}}
    workspaces["ws-acme"]["users"] = {
        "alice@acme.example": {"roleId": "admin"},
        "contractor@acme.example": {"roleId": "editor"},
    }
    workspaces["ws-umbrella"]["users"] = {"intern@umbrella.example": {"roleId": "viewer"}}
    workspaces["ws-wayne"]["users"] = {
        "lucius@wayne.example": {"roleId": "admin", "expiresAt": "2027-06-30T00:00:00Z"}
    }
    state = {
        "sources": {"support-bot": "ws-source"},
        "workspaces": {"ws-source": {"bots": {"support-bot": base}}, **workspaces},
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
