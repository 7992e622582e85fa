"""The CLI stays light: --help imports none of the heavy dependencies."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = [
    "jinja2",
    "httpx",
    "aiohttp",
    "redis",
    "google.protobuf",
    "uvicorn",
    "fastapi",
    "jsonschema",
    "deepdiff",
]


@pytest.mark.integration
def test_help_is_light() -> None:
    """`tenantops --help` loads no heavy module and `python -m tenantops` works."""
    code = (
        "import sys\n"
        "from tenantops.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('HEAVY=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Usage: tenantops" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "HEAVY="


@pytest.mark.integration
def test_python_dash_m() -> None:
    """python -m tenantops runs the CLI."""
    out = subprocess.run(
        [sys.executable, "-m", "tenantops", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("tenantops, version ")
