"""How every `dpt` command reports a failure: one `error: ...` line on stderr, exit code 1."""

from __future__ import annotations

import typer


def fail(exc: BaseException) -> typer.Exit:
    """Print ``exc`` as one ``error:`` line on stderr and return the ``typer.Exit`` to raise."""
    text = " ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())
    typer.echo(f"error: {text or type(exc).__name__}", err=True)
    return typer.Exit(code=1)
