"""The CI examples in examples/ci: they parse, and their shell steps do what each one says.

Every ``run:`` step and GitLab ``script:`` is run as written (``${{ ... }}`` replaced by
concrete values, GitLab's ``$CI_*`` set in the environment), in git clones of a config
repo made by ``tenantops init``, against the simulator: the exit code of each
``tenantops`` command and of each step is checked, as are the files the workflows
upload and the commit the apply job pushes. Only ``pip install`` is skipped (tenantops
is on PATH as a shim that logs every call) and ``uses:`` actions are not run; the two
comment scripts (actions/github-script, the GitLab note) run against small stand-ins of
the GitHub and GitLab APIs.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from ruamel.yaml import YAML
from support.simserver import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SimServer, run_sim

from tenantops.config.scaffold import write_scaffold

pytestmark = pytest.mark.integration

CI = Path(__file__).resolve().parents[2] / "examples" / "ci"
MARKER = "<!-- tenantops-plan -->"
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def load(rel: str) -> Any:
    """An example file parsed with ruamel.yaml's safe loader."""
    return YAML(typ="safe").load((CI / rel).read_text())


# --------------------------------------------------------------------------- extraction


@dataclass(frozen=True)
class Step:
    """A shell step of a workflow: its name and script."""

    name: str
    script: str


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace every ``${{ expr }}``; an expression without a value fails the test."""

    def sub(match: re.Match[str]) -> str:
        if match.group(1) not in values:
            pytest.fail(f"no test value for ${{{{ {match.group(1)} }}}} in {text!r}")
        return values[match.group(1)]

    return _EXPR.sub(sub, text)


def is_install(script: str) -> bool:
    """A ``pip install`` step or line: CI installs tenantops, the test runs this checkout."""
    return script.strip().startswith("pip install")


def github_steps(workflow: Mapping[str, Any], job: str, values: Mapping[str, str]) -> list[Step]:
    """The ``run:`` steps of ``job`` in order, placeholders substituted, installs skipped."""
    steps = []
    for step in workflow["jobs"][job]["steps"]:
        if "run" in step and not is_install(step["run"]):
            steps.append(Step(step.get("name", ""), substitute(step["run"], values)))
    return steps


def github_env(workflow: Mapping[str, Any], job: str, values: Mapping[str, str]) -> dict[str, str]:
    """The job's ``env:`` with placeholders substituted."""
    env = workflow["jobs"][job].get("env", {})
    return {key: substitute(str(value), values) for key, value in env.items()}


def gitlab_script(config: Mapping[str, Any], job: str) -> str:
    """``before_script`` (the job's, else the default's) and ``script``, installs skipped."""
    spec = config[job]
    before = spec.get("before_script", config.get("default", {}).get("before_script", []))
    return "\n".join(line for line in [*before, *spec["script"]] if not is_install(line))


def tenantops_commands(script: str) -> list[str]:
    """Every ``tenantops ...`` command line of a script, in order."""
    return [line.strip() for line in script.splitlines() if line.strip().startswith("tenantops ")]


# --------------------------------------------------------------------------- running


@dataclass
class Runner:
    """Runs CI scripts with a logging ``tenantops`` on PATH and a neutral git config."""

    bin_dir: Path
    log: Path
    env: dict[str, str]

    @classmethod
    def create(cls, tmp: Path) -> Runner:
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        log = tmp / "tenantops-calls.log"
        shim = bin_dir / "tenantops"
        shim.write_text(
            "#!/bin/sh\n"
            f'"{sys.executable}" -m tenantops "$@"\n'
            "code=$?\n"
            f"printf '%s %s\\n' \"$code\" \"$*\" >> '{log}'\n"
            'exit "$code"\n'
        )
        shim.chmod(0o755)
        (bin_dir / "python").symlink_to(sys.executable)
        gitconfig = tmp / "gitconfig"
        gitconfig.write_text("[init]\n\tdefaultBranch = main\n")
        env = {
            **os.environ,
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "GIT_CONFIG_GLOBAL": str(gitconfig),
            "GIT_CONFIG_NOSYSTEM": "1",
        }
        return cls(bin_dir, log, env)

    def calls(self) -> list[str]:
        """``"<exit code> <args>"`` for every tenantops call so far; the log is then emptied."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        self.log.unlink(missing_ok=True)
        return lines

    def run(self, script: str, cwd: Path, env: Mapping[str, str] | None = None) -> int:
        """Run ``script`` as CI does (bash -eo pipefail); its exit code."""
        out = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=300,
        )
        print(f"$ {script}\n{out.stdout}{out.stderr}")  # shown when a test fails
        return out.returncode

    def git(self, cwd: Path, *args: str) -> str:
        """Run git in ``cwd``; its stdout."""
        out = subprocess.run(
            ["git", "-c", "user.name=dev", "-c", "user.email=dev@example.com", *args],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, f"git {shlex.join(args)}: {out.stderr}"
        return out.stdout


@dataclass
class Origin:
    """A bare git remote holding a config repo from ``tenantops init``, and a dev clone."""

    runner: Runner
    bare: Path
    dev: Path

    def clone(self, dest: Path, ref: str = "main", *, detached: bool = False) -> Path:
        """A CI checkout of ``ref``: a branch, or a detached HEAD as GitLab checks out."""
        self.runner.git(dest.parent, "clone", "--quiet", str(self.bare), dest.name)
        if detached:
            self.runner.git(dest, "checkout", "--quiet", "--detach", f"origin/{ref}")
        else:
            self.runner.git(dest, "checkout", "--quiet", ref)
        return dest

    def open_pull_request(self) -> None:
        """Branch ``add-tenant``: a second tenant, pushed to the remote."""
        self.runner.git(self.dev, "checkout", "--quiet", "-b", "add-tenant")
        text = (self.dev / "tenants/example.yaml").read_text()
        second = text.replace("name: example", "name: second").replace("ws-example", "ws-second")
        (self.dev / "tenants/second.yaml").write_text(second)
        self.runner.git(self.dev, "add", "tenants/second.yaml")
        self.runner.git(self.dev, "commit", "--quiet", "-m", "Add tenant second")
        self.runner.git(self.dev, "push", "--quiet", "origin", "add-tenant")

    def merge_pull_request(self) -> None:
        """``add-tenant`` merged into main on the remote."""
        self.runner.git(self.dev, "checkout", "--quiet", "main")
        self.runner.git(self.dev, "merge", "--quiet", "--ff-only", "add-tenant")
        self.runner.git(self.dev, "push", "--quiet", "origin", "main")

    def push_unrelated_commit(self) -> None:
        """Someone else's commit lands on main while CI runs."""
        (self.dev / "NOTES.md").write_text("notes\n")
        self.runner.git(self.dev, "add", "NOTES.md")
        self.runner.git(self.dev, "commit", "--quiet", "-m", "Notes")
        self.runner.git(self.dev, "push", "--quiet", "origin", "main")

    def main_log(self) -> list[str]:
        """Subjects of the remote's main, newest first."""
        return self.runner.git(self.bare, "log", "--format=%s", "main").splitlines()

    def main_files(self) -> set[str]:
        """Files in the remote's main."""
        return set(self.runner.git(self.bare, "ls-tree", "-r", "--name-only", "main").split())


@pytest.fixture(scope="module")
def sim() -> Iterator[SimServer]:
    with run_sim("--deploy-seconds", "0.2") as server:
        yield server


@pytest.fixture
def runner(tmp_path: Path, sim: SimServer) -> Runner:
    sim.admin("POST", "/_sim/reset").raise_for_status()
    return Runner.create(tmp_path)


@pytest.fixture
def origin(tmp_path: Path, runner: Runner) -> Origin:
    bare = tmp_path / "origin.git"
    runner.git(tmp_path, "init", "--quiet", "--bare", str(bare))
    dev = tmp_path / "dev"
    write_scaffold(dev)
    runner.git(dev, "init", "--quiet")
    runner.git(dev, "add", ".")
    runner.git(dev, "commit", "--quiet", "-m", "tenantops init")
    runner.git(dev, "remote", "add", "origin", str(bare))
    runner.git(dev, "push", "--quiet", "origin", "main")
    return Origin(runner, bare, dev)


def edit_live_bot(sim: SimServer, workspace: str) -> None:
    """Change a deployed bot behind tenantops' back, as someone in the Cognigy UI would."""
    bots = sim.admin("GET", "/_sim/state").json()["workspaces"][workspace]["bots"]
    (bot_id, model), *_ = bots.items()
    model = {k: v for k, v in model.items() if k != "version"}
    model["intents"][0]["examples"].append("edited in the UI")
    sim.admin("PUT", f"/_sim/workspaces/{workspace}/bots/{bot_id}", json=model).raise_for_status()


def uploads(workflow: Mapping[str, Any], job: str, name: str) -> list[str]:
    """The paths an ``actions/upload-artifact`` step uploads."""
    for step in workflow["jobs"][job]["steps"]:
        if step.get("name") == name and step["uses"].startswith("actions/upload-artifact"):
            return [p.rstrip("/") for p in str(step["with"]["path"]).split()]
    raise AssertionError(f"no upload step {name!r}")


# --------------------------------------------------------------------------- GitHub Actions


def github_values(sim: SimServer) -> dict[str, str]:
    """What GitHub would put in for each expression of the workflows' env and run steps."""
    return {
        "vars.COGNIGY_BASE_URL": sim.base_url,
        "secrets.OAUTH_CLIENT_ID": DEFAULT_CLIENT_ID,
        "secrets.OAUTH_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        "github.base_ref": "main",
        "github.ref_name": "main",
    }


def test_github_workflows_parse() -> None:
    """Each workflow has its trigger, job, steps, permissions and concurrency."""
    plan, apply, drift = (load(f"github/{n}.yml") for n in ("plan", "apply", "drift"))
    assert set(plan["on"]) == {"pull_request"}
    assert plan["permissions"]["pull-requests"] == "write"
    checkout = plan["jobs"]["plan"]["steps"][0]
    assert checkout["uses"].startswith("actions/checkout@")
    assert checkout["with"]["fetch-depth"] == 0
    comment = next(s for s in plan["jobs"]["plan"]["steps"] if "github-script" in s.get("uses", ""))
    script = comment["with"]["script"]
    assert MARKER in script
    assert all(call in script for call in ("issues.listComments", "updateComment", "createComment"))

    assert apply["on"]["push"]["branches"] == ["main"]
    assert apply["concurrency"] == {"group": "tenantops-apply", "cancel-in-progress": False}
    assert apply["permissions"]["contents"] == "write"

    assert "schedule" in drift["on"]
    assert "workflow_dispatch" in drift["on"]
    upload = drift["jobs"]["drift"]["steps"][-1]
    assert upload["if"] == "${{ always() }}"
    assert upload["with"]["path"] == "drift.json"
    for workflow, job in ((plan, "plan"), (apply, "apply"), (drift, "drift")):
        env = workflow["jobs"][job]["env"]
        assert env["OAUTH_CLIENT_SECRET"] == "${{ secrets.OAUTH_CLIENT_SECRET }}"
        assert env["COGNIGY_BASE_URL"] == "${{ vars.COGNIGY_BASE_URL }}"


def test_github_tenantops_commands(sim: SimServer) -> None:
    """The tenantops commands the workflows run, in order."""
    values = github_values(sim)
    commands = {
        name: [
            c
            for s in github_steps(load(f"github/{name}.yml"), name, values)
            for c in tenantops_commands(s.script)
        ]
        for name in ("plan", "apply", "drift")
    }
    assert commands == {
        "plan": [
            "tenantops validate --format github",
            "tenantops plan --changed-since origin/main --format markdown --out plan.json "
            "--detailed-exitcode > plan.md",
        ],
        "apply": [
            "tenantops plan --out plan.json --detailed-exitcode",
            "tenantops apply plan.json",
        ],
        "drift": ["tenantops drift --format json > drift.json"],
    }


def test_github_pull_request_then_merge_then_drift(
    sim: SimServer, runner: Runner, origin: Origin, tmp_path: Path
) -> None:
    """Plan on the PR (exit 2 is no failure), apply on main and commit the record, drift 0 then 2."""
    values = github_values(sim)
    origin.open_pull_request()

    workflow = load("github/plan.yml")
    env = github_env(workflow, "plan", values)
    pr = origin.clone(tmp_path / "pr", "add-tenant")
    outputs, summary = tmp_path / "github_output", tmp_path / "step_summary"
    env |= {"GITHUB_OUTPUT": str(outputs), "GITHUB_STEP_SUMMARY": str(summary)}
    validate, plan = github_steps(workflow, "plan", values)
    assert runner.run(validate.script, pr, env) == 0
    assert runner.calls() == ["0 validate --format github"]
    assert runner.run(plan.script, pr, env) == 0
    assert runner.calls() == [
        "2 plan --changed-since origin/main --format markdown --out plan.json --detailed-exitcode"
    ]
    assert outputs.read_text() == "exitcode=2\n"
    markdown = (pr / "plan.md").read_text()
    assert "second" in markdown
    # Tenant example is unchanged by the pull request: not planned.
    assert [t["tenant"] for t in json.loads((pr / "plan.json").read_text())["tenants"]] == [
        "second"
    ]
    assert summary.read_text() == markdown
    assert all((pr / p).is_file() for p in uploads(workflow, "plan", "Upload the plan"))

    origin.merge_pull_request()
    workflow = load("github/apply.yml")
    env = github_env(workflow, "apply", values)
    main = origin.clone(tmp_path / "main")
    origin.push_unrelated_commit()  # the bot commit must rebase onto it
    plan, apply, commit = github_steps(workflow, "apply", values)
    assert runner.run(plan.script, main, env) == 0
    assert runner.calls() == ["2 plan --out plan.json --detailed-exitcode"]
    assert runner.run(apply.script, main, env) == 0
    assert runner.calls() == ["0 apply plan.json"]
    assert runner.run(commit.script, main, env) == 0
    plan_id = json.loads((main / "plan.json").read_text())["plan_id"]
    assert origin.main_log()[:2] == [f"tenantops: apply {plan_id} [skip ci]", "Notes"]
    assert {"tenantops.lock", "audit/example.jsonl", "audit/second.jsonl"} <= origin.main_files()
    upload = uploads(workflow, "apply", "Upload the plan and the audit trail")
    assert all((main / p).exists() for p in upload)

    workflow = load("github/drift.yml")
    env = github_env(workflow, "drift", values)
    nightly = origin.clone(tmp_path / "nightly")
    (drift,) = github_steps(workflow, "drift", values)
    assert runner.run(drift.script, nightly, env) == 0
    assert runner.calls() == ["0 drift --format json"]
    edit_live_bot(sim, "ws-second")
    assert runner.run(drift.script, nightly, env) == 2  # fails the job
    assert runner.calls() == ["2 drift --format json"]
    report = (nightly / "drift.json").read_text()
    assert "second" in report
    assert uploads(workflow, "drift", "Upload the drift report") == ["drift.json"]


def test_github_plan_failure_fails_the_step(sim: SimServer, runner: Runner, origin: Origin) -> None:
    """Exit 1 from plan (here: bad credentials) fails the Plan step; the comment still has text."""
    values = github_values(sim) | {"secrets.OAUTH_CLIENT_SECRET": "wrong"}
    workflow = load("github/plan.yml")
    env = github_env(workflow, "plan", values)
    env |= {"GITHUB_OUTPUT": os.devnull, "GITHUB_STEP_SUMMARY": os.devnull}
    (plan,) = (s for s in github_steps(workflow, "plan", values) if s.name == "Plan")
    (origin.dev / "tenants/example.yaml").write_text(
        (origin.dev / "tenants/example.yaml").read_text().replace("Example Corp", "Example Inc")
    )
    assert runner.run(plan.script, origin.dev, env) == 1
    assert runner.calls()[0].startswith("1 plan ")


_GITHUB_SCRIPT_HARNESS = """
const fs = require("fs");
const [scriptPath, statePath] = process.argv.slice(2);
const state = JSON.parse(fs.readFileSync(statePath, "utf8"));
const listComments = async (p) => ({ data: state.comments.filter((c) => c.issue === p.issue_number) });
const github = {
  paginate: async (fn, params) => (await fn(params)).data,
  rest: { issues: {
    listComments,
    updateComment: async (p) => {
      state.calls.push("update");
      state.comments.find((c) => c.id === p.comment_id).body = p.body;
    },
    createComment: async (p) => {
      state.calls.push("create");
      state.comments.push({ id: state.comments.length + 1, issue: p.issue_number,
                            user: { type: "Bot" }, body: p.body });
    },
  } },
};
const context = { repo: { owner: "acme", repo: "config" }, issue: { number: 7 },
                  serverUrl: "https://github.com", runId: 99 };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction("require", "github", "context", "core", fs.readFileSync(scriptPath, "utf8"))(
  require, github, context, {},
).then(() => fs.writeFileSync(statePath, JSON.stringify(state)));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node for actions/github-script")
def test_github_plan_comment_is_updated_not_added(tmp_path: Path) -> None:
    """The first push adds the plan comment; later pushes edit it (never a person's comment)."""
    step = next(
        s for s in load("github/plan.yml")["jobs"]["plan"]["steps"] if "script" in s.get("with", {})
    )
    (tmp_path / "script.js").write_text(step["with"]["script"])
    (tmp_path / "harness.js").write_text(_GITHUB_SCRIPT_HARNESS)
    human = {"id": 1, "issue": 7, "user": {"type": "User"}, "body": f"why {MARKER}?"}
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"comments": [human], "calls": []}))

    def push(plan_md: str) -> dict[str, Any]:
        (tmp_path / "plan.md").write_text(plan_md)
        subprocess.run(
            ["node", "harness.js", "script.js", str(state)], cwd=tmp_path, check=True, timeout=60
        )
        return dict(json.loads(state.read_text()))

    push("### tenantops plan `p1`\n")
    after = push("### tenantops plan `p2`\n")
    assert after["calls"] == ["create", "update"]
    assert after["comments"][0] == human
    assert [c["body"] for c in after["comments"][1:]] == [f"{MARKER}\n### tenantops plan `p2`\n"]
    after = push("")  # planning failed before printing anything
    assert "Planning failed" in after["comments"][1]["body"]
    assert "https://github.com/acme/config/actions/runs/99" in after["comments"][1]["body"]


# --------------------------------------------------------------------------- GitLab CI

_GITLAB = {
    "CI_SERVER_HOST": "gitlab.example",
    "CI_PROJECT_PATH": "group/config",
    "CI_DEFAULT_BRANCH": "main",
    "TENANTOPS_PUSH_TOKEN": "glpat-push",
}


def gitlab_env(sim: SimServer, config: Mapping[str, Any], **ci: str) -> dict[str, str]:
    """CI/CD variables as the header of .gitlab-ci.yml lists them, and the pipeline's."""
    return {
        **{k: str(v) for k, v in config.get("variables", {}).items()},
        "COGNIGY_BASE_URL": sim.base_url,
        "OAUTH_CLIENT_ID": DEFAULT_CLIENT_ID,
        "OAUTH_CLIENT_SECRET": DEFAULT_CLIENT_SECRET,
        **_GITLAB,
        **ci,
    }


def test_gitlab_ci_parses() -> None:
    """Stages, rules per pipeline source, the apply resource group and artifacts."""
    config = load("gitlab/.gitlab-ci.yml")
    assert config["stages"] == ["validate", "plan", "apply", "drift"]
    assert {job: config[job]["stage"] for job in config["stages"]} == {
        s: s for s in config["stages"]
    }
    assert config["variables"]["GIT_DEPTH"] == "0"

    def rules(job: str) -> str:
        return " ".join(r["if"] for r in config[job]["rules"])

    assert "merge_request_event" in rules("plan")
    assert "$CI_DEFAULT_BRANCH" in rules("apply")
    assert rules("drift") == '$CI_PIPELINE_SOURCE == "schedule"'
    assert config["apply"]["resource_group"] == "tenantops-apply"
    assert set(config["plan"]["artifacts"]["paths"]) == {"plan.md", "plan.json"}
    assert config["drift"]["artifacts"] == {
        "when": "always",
        "paths": ["drift.json"],
        "expire_in": "30 days",
    }
    assert MARKER in gitlab_script(config, "plan")
    commands = {job: tenantops_commands(gitlab_script(config, job)) for job in config["stages"]}
    assert commands == {
        "validate": ["tenantops validate"],
        "plan": [
            'tenantops plan --changed-since "origin/$CI_MERGE_REQUEST_TARGET_BRANCH_NAME" '
            "--format markdown --out plan.json --detailed-exitcode > plan.md"
        ],
        "apply": [
            "tenantops plan --out plan.json --detailed-exitcode",
            "tenantops apply plan.json",
        ],
        "drift": ["tenantops drift --format json > drift.json"],
    }


def test_gitlab_merge_request_then_merge_then_drift(
    sim: SimServer, runner: Runner, origin: Origin, tmp_path: Path
) -> None:
    """MR pipeline: validate, plan (2 is no failure); main: apply, commit, push; schedule: drift."""
    config = load("gitlab/.gitlab-ci.yml")
    origin.open_pull_request()

    mr = origin.clone(tmp_path / "mr", "add-tenant", detached=True)
    env = gitlab_env(
        sim,
        config,
        CI_PIPELINE_SOURCE="merge_request_event",
        CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main",
    )
    assert runner.run(gitlab_script(config, "validate"), mr, env) == 0
    assert runner.calls() == ["0 validate"]
    assert runner.run(gitlab_script(config, "plan"), mr, env) == 0
    assert runner.calls() == [
        "2 plan --changed-since origin/main --format markdown --out plan.json --detailed-exitcode"
    ]
    assert "second" in (mr / "plan.md").read_text()
    assert all((mr / p).is_file() for p in config["plan"]["artifacts"]["paths"])

    origin.merge_pull_request()
    main = origin.clone(tmp_path / "main", "main", detached=True)
    origin.push_unrelated_commit()
    push_url = "https://tenantops:glpat-push@gitlab.example/group/config.git"
    env = gitlab_env(sim, config, CI_PIPELINE_SOURCE="push", CI_COMMIT_BRANCH="main")
    env |= {  # the push URL the job builds leads to the test's remote
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{origin.bare}.insteadOf",
        "GIT_CONFIG_VALUE_0": push_url,
    }
    assert runner.run(gitlab_script(config, "apply"), main, env) == 0
    assert runner.calls() == ["2 plan --out plan.json --detailed-exitcode", "0 apply plan.json"]
    plan_id = json.loads((main / "plan.json").read_text())["plan_id"]
    assert origin.main_log()[:2] == [f"tenantops: apply {plan_id} [skip ci]", "Notes"]
    assert {"tenantops.lock", "audit/example.jsonl"} <= origin.main_files()
    # A second pipeline on main: nothing to apply, nothing to commit.
    again = origin.clone(tmp_path / "again", "main", detached=True)
    assert runner.run(gitlab_script(config, "apply"), again, env) == 0
    assert runner.calls() == ["0 plan --out plan.json --detailed-exitcode", "0 apply plan.json"]
    assert origin.main_log()[0].startswith("tenantops: apply")

    nightly = origin.clone(tmp_path / "nightly", "main", detached=True)
    env = gitlab_env(sim, config, CI_PIPELINE_SOURCE="schedule", CI_COMMIT_BRANCH="main")
    assert runner.run(gitlab_script(config, "drift"), nightly, env) == 0
    assert runner.calls() == ["0 drift --format json"]
    edit_live_bot(sim, "ws-example")
    assert runner.run(gitlab_script(config, "drift"), nightly, env) == 2
    assert runner.calls() == ["2 drift --format json"]
    assert "example" in (nightly / "drift.json").read_text()


class _NotesApi(BaseHTTPRequestHandler):
    """GitLab's merge request notes API, as far as the plan job uses it."""

    notes: ClassVar[list[dict[str, Any]]]
    calls: ClassVar[list[str]]
    prefix = "/api/v4/projects/42/merge_requests/7/notes"

    def _reply(self, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> str:
        return str(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["body"])

    def do_GET(self) -> None:
        assert self.headers["PRIVATE-TOKEN"] == "glpat-api"
        url = urlsplit(self.path)
        assert url.path == self.prefix
        query = parse_qs(url.query)
        page, size = int(query["page"][0]), int(query["per_page"][0])
        self._reply(self.notes[(page - 1) * size : page * size])

    def do_POST(self) -> None:
        assert self.path == self.prefix
        self.calls.append("create")
        self.notes.append({"id": len(self.notes) + 1, "body": self._body()})
        self._reply(self.notes[-1])

    def do_PUT(self) -> None:
        note_id = int(self.path.rsplit("/", 1)[1])
        self.calls.append(f"update {note_id}")
        note = next(n for n in self.notes if n["id"] == note_id)
        note["body"] = self._body()
        self._reply(note)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_gitlab_plan_note_is_updated_not_added(runner: Runner, tmp_path: Path) -> None:
    """With GITLAB_API_TOKEN the plan job adds one MR note, then edits it on later pushes."""
    config = load("gitlab/.gitlab-ci.yml")
    (note_script,) = (s for s in config["plan"]["script"] if "GITLAB_API_TOKEN" in s)
    earlier = [{"id": i, "body": "LGTM"} for i in range(1, 151)]  # two pages of notes

    class Notes(_NotesApi):
        notes: ClassVar[list[dict[str, Any]]] = list(earlier)
        calls: ClassVar[list[str]] = []

    handler = Notes
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "GITLAB_API_TOKEN": "glpat-api",
        "CI_API_V4_URL": f"http://127.0.0.1:{server.server_port}/api/v4",
        "CI_PROJECT_ID": "42",
        "CI_MERGE_REQUEST_IID": "7",
        "CI_JOB_URL": "https://gitlab.example/group/config/-/jobs/5",
    }
    try:
        for text in ("### tenantops plan `p1`\n", "### tenantops plan `p2`\n"):
            (tmp_path / "plan.md").write_text(text)
            assert runner.run(note_script, tmp_path, env) == 0
        assert handler.calls == ["create", "update 151"]
        assert handler.notes == [
            *earlier,
            {"id": 151, "body": f"{MARKER}\n### tenantops plan `p2`\n"},
        ]
        assert runner.run(note_script, tmp_path, {}) == 0  # no token: no note, no failure
        assert handler.calls == ["create", "update 151"]
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- pre-commit


def test_pre_commit_hook(runner: Runner, tmp_path: Path) -> None:
    """The hook runs `tenantops validate` on config changes: 0 as scaffolded, 1 once broken."""
    (hook,) = load("pre-commit/.pre-commit-hooks.yaml")
    assert hook["id"] == "tenantops-validate"
    assert hook["entry"] == "tenantops validate"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    matching = ["tenantops.yaml", "tenants/acme.yaml", "templates/default/base.json"]
    assert all(files.search(p) for p in matching)
    assert not any(files.search(p) for p in ["README.md", "audit/acme.jsonl", "tenantops.lock"])
    (repo_entry,) = load("pre-commit/.pre-commit-config.yaml")["repos"]
    assert [h["id"] for h in repo_entry["hooks"]] == [hook["id"]]

    repo = tmp_path / "repo"
    write_scaffold(repo)
    entry = shlex.join(shlex.split(hook["entry"]))  # pass_filenames: false: no arguments
    assert runner.run(entry, repo) == 0
    assert runner.calls() == ["0 validate"]
    tenant = repo / "tenants/example.yaml"
    tenant.write_text(tenant.read_text().replace("https://hooks", "hooks"))
    assert runner.run(entry, repo) == 1
    assert runner.calls() == ["1 validate"]
