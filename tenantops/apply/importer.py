"""``tenantops import``: adopt live bots as tenants, the way ``terraform import`` adopts resources.

Per request (a tenant name, its workspace, maybe a template) the importer exports the
live bot (and its roles with ``roles=True``), infers the tenant file with the pure
:func:`tenantops.core.infer.infer_tenant` and writes ``tenants/<name>.yaml``. Then it
plans the imported tenants with the :class:`~tenantops.pipeline.planner.Planner`, so
what the template cannot reproduce is shown exactly as ``plan`` will show it, and
records each live model in the lockfile as the tenant's baseline (``imported: true``)
with an ``imported`` audit record. It deploys nothing.

Secret values are never written: the file references ``${env:NAME}``; while planning,
a variable that is not set is taken from the live bot, in memory only.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tenantops.apply.audit import IMPORTED, AuditLog
from tenantops.apply.lockfile import (
    BaseInfo,
    LockedRole,
    LockEntry,
    lockfile_guard,
    read_lockfile,
    same_entry,
    write_lockfile,
)
from tenantops.backends.base import Backend
from tenantops.config.fleet import Fleet, LoadedTemplate
from tenantops.core.infer import Inferred, infer_tenant
from tenantops.core.model import BotDoc, canonicalize, is_name, model_sha256
from tenantops.core.plan import Plan
from tenantops.core.redact import Redactor
from tenantops.core.render import SERVER_FIELDS, SERVER_METADATA
from tenantops.core.symbolic import SymbolicTemplate
from tenantops.durable import atomic_write_text
from tenantops.errors import ConfigError, NotFoundError, PlanError, TenantOpsError
from tenantops.pipeline.planner import Bases, Planner, export_bases
from tenantops.report.reporter import NullReporter, Reporter

__all__ = ["ImportReport", "ImportRequest", "ImportResult", "Importer", "requests_from_csv"]

_COLUMNS = ("name", "workspace", "template")


@dataclass(frozen=True, slots=True)
class ImportRequest:
    """One bot to adopt: ``name`` becomes ``tenants/<name>.yaml``.

    Attributes:
        line: the request's line in a ``--from`` file, when it came from one.
        problem: why the row cannot be imported (a malformed row), if it cannot.
    """

    name: str
    workspace: str
    template: str | None = None
    line: int | None = None
    problem: str | None = None


def requests_from_csv(text: str) -> list[ImportRequest]:
    """The requests of a ``name,workspace[,template]`` CSV with a header row.

    A malformed row becomes a request with a ``problem``, so the good rows still run.

    Raises:
        ConfigError: the header lacks ``name`` or ``workspace``, or names other columns.
    """
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in _COLUMNS[:2] if c not in header]
    unknown = [c for c in header if c not in _COLUMNS]
    if missing or unknown:
        wrong = f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(unknown)}"
        raise ConfigError(f"the header must be name,workspace[,template] ({wrong})", line=1)
    requests: list[ImportRequest] = []
    first: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        cells = {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
        name, workspace = cells.get("name", ""), cells.get("workspace", "")
        problem = None
        if None in row or not name or not workspace:
            problem = "a row needs a name and a workspace (and at most a template)"
        elif name in first:
            problem = f"tenant '{name}' is listed twice (first on line {first[name]})"
        first.setdefault(name, line)
        requests.append(
            ImportRequest(name, workspace, cells.get("template") or None, line, problem)
        )
    return requests


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What became of one request: the tenant file written, or the error."""

    request: ImportRequest
    path: Path | None = None
    inferred: Inferred | None = None
    written: bool = False
    error: TenantOpsError | None = None
    live: BotDoc | None = field(default=None, repr=False)
    bot_id: str = ""
    #: The locale ``live`` was exported in (``None``: the backend's default).
    locale: str | None = None
    base_version: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class ImportReport:
    """Every request's result, the plan of the imported tenants, the lockfile entries changed."""

    results: tuple[ImportResult, ...]
    plan: Plan | None
    recorded: tuple[str, ...] = ()

    @property
    def failed(self) -> tuple[ImportResult, ...]:
        return tuple(r for r in self.results if not r.ok)


class Importer:
    """Adopts live bots of one backend into one config repo."""

    def __init__(
        self,
        fleet: Fleet,
        backend: Backend,
        *,
        journal: Callable[[Redactor], AuditLog],
        lockfile: Path,
        force: bool = False,
        roles: bool = False,
        parallelism: int = 8,
        reporter: Reporter | None = None,
    ) -> None:
        self.fleet = fleet
        self.backend = backend
        self.journal = journal
        self.lockfile = lockfile
        self.force = force
        self.roles = roles
        self.parallelism = max(1, parallelism)
        self.reporter = reporter or NullReporter()
        self._symbolic_templates: dict[str, SymbolicTemplate] = {}

    async def run(self, requests: Sequence[ImportRequest]) -> ImportReport:
        """Import every request; one request's failure never stops the others."""
        bases = await export_bases(self.fleet, self.backend)
        gate = asyncio.Semaphore(self.parallelism)

        async def one(request: ImportRequest) -> ImportResult:
            async with gate:
                result = await self._import(request, bases)
            self.reporter.advance(result)
            return result

        self.reporter.begin("importing", len(requests))
        try:
            results = tuple(await asyncio.gather(*(one(r) for r in requests)))
        finally:
            self.reporter.end()
        imported = [r for r in results if r.ok]
        if not imported:
            return ImportReport(results, None)
        plan = await self._plan(imported, bases)
        return ImportReport(results, plan, self._record(imported, plan))

    # ------------------------------------------------------------------ one bot

    async def _import(self, request: ImportRequest, bases: Bases) -> ImportResult:
        try:
            return await self._adopt(request, bases)
        except TenantOpsError as exc:
            return ImportResult(request, error=exc)

    async def _adopt(self, request: ImportRequest, bases: Bases) -> ImportResult:
        project = self.fleet.project
        path = self._target(request)
        template = self.fleet.template(self._template_name(request))
        base = template.base or bases.models.get(template.base_key)
        if base is None:
            raise PlanError(bases.errors.get(template.base_key, "the base bot was not exported"))
        bot_id = _bot_id(template, base, v2=project.config.api.flavor == "cognigy-v2")
        live = await self._export(bot_id, request.workspace, locale=None)
        locale = (live.get("metadata") or {}).get("locale")
        exported_in: str | None = None
        if project.config.api.flavor == "cognigy-v2" and isinstance(locale, str):
            exported_in = locale
            live = await self._export(bot_id, request.workspace, locale=locale)
        grants = await self.backend.list_roles(request.workspace) if self.roles else None
        inferred = infer_tenant(
            name=request.name,
            workspace=request.workspace,
            template=template.name,
            overrides=self._symbolic(template),
            base=base,
            live=live,
            defaults=project.config.defaults,
            grants=grants,
        )
        text = _tenant_yaml(inferred.document, request.workspace)
        written = not path.is_file() or path.read_text(encoding="utf-8") != text
        if written:
            atomic_write_text(path, text)
        return ImportResult(
            request,
            path=path,
            inferred=inferred,
            written=written,
            live=live,
            bot_id=bot_id,
            locale=exported_in,
            base_version=str(base["version"]) if base.get("version") else None,
        )

    def _symbolic(self, template: LoadedTemplate) -> SymbolicTemplate:
        """The template's overrides compiled for inference, once per run."""
        if template.name not in self._symbolic_templates:
            jinja = template.jinja
            loader = jinja.environment.loader
            assert loader is not None
            assert jinja.name is not None
            source = loader.get_source(jinja.environment, jinja.name)[0]
            self._symbolic_templates[template.name] = SymbolicTemplate.from_source(source)
        return self._symbolic_templates[template.name]

    def _target(self, request: ImportRequest) -> Path:
        """The tenant file to write; refuses a bad name or (without force) an existing file."""
        project = self.fleet.project
        if request.problem:
            raise ConfigError(request.problem)
        if not is_name(request.name):
            raise ConfigError(f"'{request.name}' is not a tenant name (letters, digits, . _ -)")
        path = project.tenants_dir / f"{request.name}.yaml"
        for existing in (path, path.with_suffix(".yml")):
            if existing.exists() and not (self.force and existing == path):
                raise ConfigError(
                    "the tenant file already exists; pass --force to replace it",
                    path=project.display(existing),
                )
        return path

    def _template_name(self, request: ImportRequest) -> str:
        project = self.fleet.project
        default = project.config.defaults.get("template")
        names = project.template_names()
        name = request.template or (default if isinstance(default, str) else None)
        if name is None and len(names) == 1:
            name = names[0]
        if name is None or name not in names:
            known = ", ".join(names) or "none"
            what = f"unknown template '{name}'" if name else "no template given"
            raise ConfigError(f"{what}: pass --template (templates: {known})")
        return name

    async def _export(self, bot_id: str, workspace: str, *, locale: str | None) -> BotDoc:
        try:
            return await self.backend.export_bot(bot_id, workspace_id=workspace, locale=locale)
        except NotFoundError as exc:
            raise NotFoundError(
                f"workspace '{workspace}' has no bot '{bot_id}' (or there is no such "
                "workspace): check the workspace id, and --template",
                status=exc.status,
                code=exc.code,
                request_id=exc.request_id,
                method=exc.method,
                url=exc.url,
            ) from exc

    # ------------------------------------------------------------------ plan and record

    async def _plan(self, imported: Sequence[ImportResult], bases: Bases) -> Plan:
        """Plan the imported tenants; secrets not in the environment come from the live bot.

        The bases and the live bots just exported are handed to the planner, so that it
        does not export them again (on cognigy-v2 an export is some 40 calls).
        """
        project = self.fleet.project
        live_secrets = {s.env: s.value for r in imported if r.inferred for s in r.inferred.secrets}
        env = {**live_secrets, **project.env}
        fleet = Fleet(dataclasses.replace(project, env=env))
        paths = [r.path for r in imported if r.path is not None]
        planner = Planner(fleet, self.backend, parallelism=self.parallelism, reporter=self.reporter)
        exported = {(r.bot_id, r.request.workspace, r.locale): r.live for r in imported if r.live}
        return await planner.plan(paths, bases=bases, exported=exported)

    def _record(self, imported: Sequence[ImportResult], plan: Plan) -> tuple[str, ...]:
        """Write each live model as its tenant's baseline; answers the tenants whose entry changed."""
        by_name = {t.tenant: t for t in plan.tenants}
        now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        changed: list[tuple[ImportResult, LockEntry, Redactor]] = []
        with lockfile_guard(self.lockfile):
            lock = read_lockfile(self.lockfile)
            for result in imported:
                tp = by_name.get(result.request.name)
                config_sha = tp.config_sha256 if tp is not None and tp.status != "error" else None
                entry, redactor = _entry(result, config_sha, now)
                if not same_entry(lock.tenants.get(result.request.name), entry):
                    lock.tenants[result.request.name] = entry
                    changed.append((result, entry, redactor))
            if changed:
                write_lockfile(self.lockfile, lock)
        for result, entry, redactor in changed:
            assert result.path is not None
            details: dict[str, Any] = {
                "workspace": entry.workspace,
                "model_sha256": entry.model_sha256,
                "tenant_file": str(self.fleet.project.display(result.path)),
            }
            if entry.roles is not None:
                details["roles"] = len(entry.roles)  # the live grants now the baseline
            self.journal(redactor).append(result.request.name, IMPORTED, details=details)
        return tuple(r.request.name for r, _, _ in changed)


def _bot_id(template: LoadedTemplate, base: BotDoc, *, v2: bool) -> str:
    """The bot to export: on Cognigy.AI v2.0 the template's flow, else the base's bot."""
    return template.spec.flow if v2 else str(base.get("botId") or template.base_export or "")


def _baseline(live: BotDoc) -> BotDoc:
    """The live model without server-owned fields, in canonical order (stable across exports)."""
    model = {k: v for k, v in live.items() if k not in SERVER_FIELDS}
    metadata = model.get("metadata")
    if isinstance(metadata, dict):
        model["metadata"] = {k: v for k, v in metadata.items() if k not in SERVER_METADATA}
    return canonicalize(model)


def _entry(result: ImportResult, config_sha: str | None, now: str) -> tuple[LockEntry, Redactor]:
    assert result.live is not None
    assert result.inferred is not None
    redactor = Redactor(s.value for s in result.inferred.secrets)
    roles = result.inferred.document.get("roles")
    entry = LockEntry(
        workspace=result.request.workspace,
        model_sha256=model_sha256(result.live),
        status="success",
        applied_at=now,
        base=BaseInfo(botId=result.bot_id, version=result.base_version),
        config_sha256=config_sha,
        model=redactor.redact(_baseline(result.live)),
        imported=True,
        roles=[LockedRole.model_validate(r) for r in roles] if roles is not None else None,
    )
    return entry, redactor


def _tenant_yaml(document: Mapping[str, Any], workspace: str) -> str:
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 4096
    out = io.StringIO()
    out.write(f"# Imported from the live bot in workspace {workspace} by `tenantops import`.\n")
    yaml.dump(dict(document), out)
    return out.getvalue()
