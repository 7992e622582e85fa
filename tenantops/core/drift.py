"""Drift: does a tenant's live bot still match what tenantops last applied?

Pure. Whether a tenant drifted is decided on hashes over real values (the live export
against the lockfile's ``model_sha256``), so a change of a secret value in the UI is
drift too. What is *shown* compares the masked applied model (from the lockfile) with
the live export masked the same way, so no secret is ever printed. A config change not
yet applied is reported beside drift (``pending``), never as drift.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tenantops.core.diff import Change, diff_models, summarize
from tenantops.core.lock import LockEntry
from tenantops.core.model import ITEM_KEYS, BotDoc, model_sha256
from tenantops.core.redact import MASK, Redactor

__all__ = ["DriftReport", "TenantDrift", "assess", "mask_like"]

DriftStatus = Literal["drift", "no_drift", "never_applied", "error"]


@dataclass(frozen=True, slots=True)
class TenantDrift:
    """One tenant's drift: ``changes`` go from the applied model to the live one."""

    tenant: str
    workspace: str
    status: DriftStatus
    changes: tuple[Change, ...] = ()
    error: str | None = None
    #: The config now renders something other than what was applied (None: unknown).
    pending: bool | None = None
    note: str | None = None
    applied_at: str | None = None
    redactor: Redactor = field(default_factory=Redactor, repr=False, compare=False)

    @property
    def summary(self) -> dict[str, int]:
        return summarize(self.changes)


@dataclass(frozen=True, slots=True)
class DriftReport:
    """Every checked tenant's drift, in name order."""

    tenants: tuple[TenantDrift, ...]

    @property
    def has_drift(self) -> bool:
        return any(t.status == "drift" for t in self.tenants)

    @property
    def has_errors(self) -> bool:
        return any(t.status == "error" for t in self.tenants)

    @property
    def summary(self) -> dict[str, int]:
        return {
            "tenants_drifted": sum(t.status == "drift" for t in self.tenants),
            "tenants_never_applied": sum(t.status == "never_applied" for t in self.tenants),
            "tenants_errored": sum(t.status == "error" for t in self.tenants),
            "tenants_pending": sum(bool(t.pending) for t in self.tenants),
        }

    @classmethod
    def of(cls, tenants: Iterable[TenantDrift]) -> DriftReport:
        return cls(tuple(sorted(tenants, key=lambda t: t.tenant)))


def _pattern(masked: str) -> re.Pattern[str]:
    return re.compile(".+?".join(map(re.escape, masked.split(MASK))), re.DOTALL)


def mask_like(live: Any, applied: Any) -> Any:
    """``live`` with every value masked where ``applied`` has a masked value.

    For a machine that lacks a tenant's secrets: wherever the applied model shows
    ``(sensitive)``, the live value is masked too, so the comparison never shows one.
    """
    if isinstance(applied, str) and MASK in applied:
        if isinstance(live, str) and _pattern(applied).fullmatch(live):
            return applied
        return MASK
    if isinstance(applied, dict) and isinstance(live, dict):
        return {k: mask_like(v, applied[k]) if k in applied else v for k, v in live.items()}
    if isinstance(applied, list) and isinstance(live, list):
        return _mask_list(live, applied)
    return live


def _mask_list(live: list[Any], applied: list[Any]) -> list[Any]:
    key = next(
        (k for k in ("name", "id") if all(isinstance(i, dict) and k in i for i in applied + live)),
        None,
    )
    if key is None or not applied:
        return [mask_like(v, applied[i]) if i < len(applied) else v for i, v in enumerate(live)]
    by_key = {item[key]: item for item in applied}
    return [mask_like(item, by_key[item[key]]) if item[key] in by_key else item for item in live]


def assess(
    *,
    tenant: str,
    workspace: str,
    entry: LockEntry | None,
    live: BotDoc | None,
    desired_sha256: str | None,
    redactor: Redactor,
    ignore: Sequence[str] = (),
) -> TenantDrift:
    """Compare a tenant's live export (``None``: no bot) with its lockfile entry."""
    if entry is None:
        return TenantDrift(tenant, workspace, "never_applied", pending=True, redactor=redactor)
    pending = None if desired_sha256 is None else desired_sha256 != entry.model_sha256
    common: dict[str, Any] = {
        "pending": pending,
        "applied_at": entry.applied_at,
        "redactor": redactor,
    }
    live_sha = model_sha256(live) if live is not None else None
    if live_sha == entry.model_sha256:
        return TenantDrift(tenant, workspace, "no_drift", **common)
    if live is None:
        note = "the workspace has no bot any more"
    elif entry.model is None:
        return TenantDrift(
            tenant, workspace, "drift", note="the lockfile holds no model to compare with", **common
        )
    else:
        note = None
    applied = entry.model or {"botId": "", **{k: [] for k in ITEM_KEYS}, "metadata": {}}
    if live is None:
        return TenantDrift(
            tenant, workspace, "drift", changes=_all_deleted(applied), note=note, **common
        )
    shown = mask_like(redactor.redact(live), applied)
    changes = tuple(diff_models(shown, applied, ignore=ignore))
    if changes:
        return TenantDrift(tenant, workspace, "drift", changes=changes, **common)
    if diff_models(shown, applied):
        # Like Terraform's ignore_changes: what the template ignores is not drift.
        return TenantDrift(
            tenant, workspace, "no_drift", note="only ignored fields differ", **common
        )
    return TenantDrift(tenant, workspace, "drift", note="only secret values differ", **common)


def _all_deleted(applied: BotDoc) -> tuple[Change, ...]:
    empty = {"botId": applied.get("botId", ""), **{k: [] for k in ITEM_KEYS}, "metadata": {}}
    return tuple(diff_models(empty, applied))
