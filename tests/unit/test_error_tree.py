"""The error tree is in use: every class is raised or mapped somewhere, and each has an exit code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import tenantops.errors as errors

PACKAGE = Path(errors.__file__).parent
CLASSES = sorted(
    name
    for name in errors.__all__
    if isinstance(getattr(errors, name), type) and issubclass(getattr(errors, name), Exception)
)
#: Lines that mention a class without raising it: imports, handlers and type checks.
_NOT_A_USE = re.compile(r"^\s*(from |import |except |.*isinstance\(|.*\bassert\b)")


def _uses(name: str) -> list[str]:
    found = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py" or "_pb" in path.parts:
            continue
        for line in path.read_text().splitlines():
            if re.search(rf"\b{name}\b", line) and not _NOT_A_USE.match(line):
                found.append(f"{path.name}: {line.strip()}")
    return found


@pytest.mark.parametrize("name", CLASSES)
def test_every_error_class_is_raised_or_is_a_base(name: str) -> None:
    """A class nobody raises (or maps a status to) goes: the tree holds no decoration."""
    cls = getattr(errors, name)
    is_base = any(
        getattr(errors, other) is not cls and issubclass(getattr(errors, other), cls)
        for other in CLASSES
    )
    assert is_base or _uses(name), f"{name} is never raised"


def test_exit_codes_come_from_the_classes() -> None:
    """Differences exit 2 (Terraform's convention); every other error exits 1."""
    assert errors.DifferencesFound("x").exit_code == 2
    assert {getattr(errors, n).exit_code for n in CLASSES if n != "DifferencesFound"} == {1}
