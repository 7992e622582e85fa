"""Reporters: the engines tell every phase and every tenant, so progress bars advance."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

from tenantops.backends.base import Backend
from tenantops.config import load_project
from tenantops.config.fleet import Fleet
from tenantops.core.lock import Lockfile
from tenantops.pipeline.planner import Planner
from tenantops.report.reporter import CapturingReporter, NullReporter, RichReporter


class _NoBackend:
    """A backend that must not be called: drift of never-applied tenants needs no API."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected backend call: {name}")


def test_drift_advances_once_per_tenant(repo: Path) -> None:
    """`drift` reports its phase and each tenant (its progress bar used to stand still)."""
    fleet = Fleet(load_project(repo))
    reporter = CapturingReporter()
    planner = Planner(fleet, cast(Backend, _NoBackend()), reporter=reporter)
    report = asyncio.run(planner.drift(fleet.tenant_paths(), Lockfile()))
    assert reporter.events[0] == ("begin", ("checking drift", 6))
    assert reporter.events[-1] == ("end", None)
    assert sorted(t.tenant for t in reporter.items) == sorted(t.tenant for t in report.tenants)


def test_null_and_rich_reporters_accept_every_event() -> None:
    """Null drops everything; Rich without a terminal draws nothing and raises nothing."""
    for reporter in (NullReporter(), RichReporter(force_terminal=False)):
        reporter.begin("applying", 3)
        reporter.advance(object())
        reporter.end()
