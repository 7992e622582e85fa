"""Where the Cognigy.AI v2.0 contract suite runs: the simulator by default, or a real installation.

With no settings, the suite starts ``tenantops sim --flavor cognigy-v2`` on a free
loopback port and seeds, through its admin side door, the project it works in (with
resources of "someone else" that must come out unchanged). To run it against a real
installation (a trial account):

- ``TENANTOPS_CONTRACT_BASE_URL``: the API host, e.g. ``https://api-trial.cognigy.ai``
  (``/new/v2.0`` is added);
- ``TENANTOPS_CONTRACT_API_KEY``: an API key of a user with a role in the project;
- ``TENANTOPS_CONTRACT_PROJECT_ID``: the 24-hex id of the project the suite may create
  its ``tenantops-contract-*`` flows, lexicons and snapshots in (and deletes them after);
- ``TENANTOPS_CONTRACT_DESTRUCTIVE=1``: also run the checks that cannot be made safe:
  restoring a snapshot (it rebuilds the whole project, giving every resource a new
  ``_id``) and filling the project to its 10 snapshots.

What the API did where the research notes are uncertain is printed at the end of the
run ("cognigy-v2 contract findings").
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.simserver import SimServer, run_sim
from support.v2contract import (
    ENV_DESTRUCTIVE,
    PREFIX,
    Findings,
    Scratch,
    Target,
    V2Api,
    target_from_env,
)

_HERE = Path(__file__).parent
_FINDINGS = pytest.StashKey[Findings]()
_API_KEY = "contract-v2-key-0123456789"

#: The simulator's project: what "someone else" made in it must survive every check.
HOST_PROJECT: dict[str, Any] = {
    "name": "contract-host",
    "locales": [{"name": "en-US", "primary": True}],
    "flows": [
        {
            "name": "Main",
            "context": {"owner": "someone else"},
            "intents": [{"name": "theirs", "data": {"actions": ["keep"]}, "sentences": ["hi"]}],
            "nodes": [{"type": "say", "label": "Their welcome"}],
        }
    ],
    "lexicons": [{"name": "their-colors", "entries": [{"mainKeyphrase": "red"}]}],
    "members": [{"email": "carol@example.com", "roles": ["base_role"]}],
    "snapshots": [{"name": "their-release"}],
}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark this folder's tests ``contract``; refuse a real URL the suite cannot run safely on."""
    mine = [item for item in items if _HERE in item.path.parents]
    for item in mine:
        item.add_marker(pytest.mark.contract)
    if mine:
        try:
            target_from_env(os.environ)
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Print what the API did where the research notes are uncertain."""
    findings = config.stash.get(_FINDINGS, None)
    if findings is not None and findings.notes:
        terminalreporter.write_sep("-", f"cognigy-v2 contract findings ({findings.target})")
        for line in findings.lines():
            terminalreporter.write_line(line)


def _foreign(sim: SimServer, project_id: str) -> dict[str, list[Any]]:
    """What is in the project besides the suite's own resources, by content (not ``_id``)."""
    tables = sim.admin("GET", "/_sim/state").json()["tables"]

    def named(table: str, **where: str) -> list[dict[str, Any]]:
        return [r for r in tables[table] if all(r.get(k) == v for k, v in where.items())]

    flows = named("flows", projectReference=project_id)
    ours = [f for f in flows if str(f["name"]).startswith(PREFIX)]
    theirs = {f["_id"] for f in flows} - {f["_id"] for f in ours}
    lexicons = named("lexicons", projectReference=project_id)
    their_lexicons = {x["_id"] for x in lexicons if not str(x["name"]).startswith(PREFIX)}
    snapshots = named("snapshots", projectReference=project_id)
    return {
        "leftovers": sorted(
            str(d["name"])
            for d in [*ours, *lexicons, *snapshots]
            if str(d["name"]).startswith(PREFIX)
        ),
        "flows": sorted((f["name"], repr(f.get("context"))) for f in flows if f["_id"] in theirs),
        "intents": sorted(
            (i["name"], repr(i.get("data")))
            for i in named("intents")
            if i["flowReference"] in theirs
        ),
        "nodes": sorted(
            (n["type"], n.get("label")) for n in named("nodes") if n["flowReference"] in theirs
        ),
        "lexicons": sorted(x["name"] for x in lexicons if x["_id"] in their_lexicons),
        "entries": sorted(
            e["mainKeyphrase"] for e in named("entries") if e["lexiconReference"] in their_lexicons
        ),
        "snapshots": sorted(s["name"] for s in snapshots if not str(s["name"]).startswith(PREFIX)),
    }


@pytest.fixture(scope="session")
def target() -> Iterator[Target]:
    """The installation under test; the simulator (started here) unless the env names one."""
    real = target_from_env(os.environ)
    if real is not None:
        yield real
        return
    args = ("--task-seconds", "0.4", "--api-key", f"{_API_KEY}:contract@example.com")
    with run_sim(*args, flavor="cognigy-v2") as sim:
        seeded = sim.admin("POST", "/_sim/seed", json={"projects": [HOST_PROJECT]})
        assert seeded.status_code == 201, seeded.text
        project_id = str(seeded.json()["projects"][0]["_id"])
        before = _foreign(sim, project_id)
        yield Target(sim.base_url, _API_KEY, project_id, True, True, 0.02)
        after = _foreign(sim, project_id)
        assert after["leftovers"] == [], "the suite left scratch resources behind"
        assert after == before, "the suite changed resources that are not its own"


@pytest.fixture(scope="session")
def findings(target: Target, request: pytest.FixtureRequest) -> Findings:
    """Notes on uncertain facts, printed at the end of the run."""
    where = "simulator" if target.simulated else target.base_url
    return request.config.stash.setdefault(_FINDINGS, Findings(where))


@pytest.fixture(scope="session")
def api(target: Target) -> Iterator[V2Api]:
    client = V2Api(target)
    yield client
    client.close()


@pytest.fixture
def scratch(api: V2Api) -> Iterator[Scratch]:
    """``tenantops-contract-*`` resources, deleted after the test (a failure to delete fails it)."""
    owned = Scratch(api)
    yield owned
    left = owned.cleanup()
    assert not left, f"could not delete scratch resources: {left}"


@pytest.fixture
def destructive(target: Target) -> None:
    """Checks that change the whole project run on the simulator, or on request."""
    if not target.destructive:
        pytest.skip(f"changes the whole project: set {ENV_DESTRUCTIVE}=1 to run it")
