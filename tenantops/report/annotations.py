"""Turn results into text for people and machines: error lists, annotations, summaries.

Pure: returns strings; the CLI decides where they go.
"""

from __future__ import annotations

from collections.abc import Sequence

from tenantops.errors import ConfigError

__all__ = ["annotation", "format_errors", "github_annotation"]


def _escape_data(text: str) -> str:
    # GitHub's workflow-command escaping: https://github.com/actions/toolkit (command.ts)
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(
    message: str, *, path: object | None = None, line: int | None = None, title: str = "tenantops"
) -> str:
    """A GitHub Actions ``::error`` workflow command."""
    props = []
    if path is not None:
        props.append(f"file={_escape_property(str(path))}")
    if line:
        props.append(f"line={line}")
    props.append(f"title={_escape_property(title)}")
    return f"::error {','.join(props)}::{_escape_data(message)}"


def github_annotation(error: ConfigError) -> str:
    """A GitHub Actions ``::error`` workflow command for ``error``."""
    message = error.message
    if error.pointer and not error.line and error.pointer not in message:
        message = f"{message} (at {error.pointer})"
    if error.tenant_file is not None and error.tenant_file != error.path:
        message = f"{error.tenant_file}: {message}"
    message += error.blocked_note
    title = f"tenantops: {error.tenant}" if error.tenant else "tenantops"
    return annotation(message, path=error.path, line=error.line, title=title)


def format_errors(errors: Sequence[ConfigError], *, fmt: str = "text") -> list[str]:
    """One line per error: ``file:line: message`` or GitHub annotations."""
    if fmt == "github":
        return [github_annotation(e) for e in errors]
    return [str(e) for e in errors]
