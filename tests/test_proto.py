"""The committed protobuf code is what protoc generates from protos/ today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.integration
def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    """Regenerating from protos/session_context.proto changes nothing (run `make proto` if it does)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            "-I",
            str(ROOT / "protos"),
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            "session_context.proto",
        ],
        check=True,
        cwd=ROOT / "protos",
    )
    for name in ("session_context_pb2.py", "session_context_pb2.pyi"):
        fresh = (tmp_path / name).read_text()
        committed = (ROOT / "tenantops/_pb" / name).read_text()
        assert fresh == committed, f"tenantops/_pb/{name} is out of date: run `make proto`"
