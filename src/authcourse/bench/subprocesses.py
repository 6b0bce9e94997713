"""Stopping the bench's helper processes for sure, and reading what they said on stderr."""

from __future__ import annotations

import asyncio
import contextlib
from typing import IO


async def stop(process: asyncio.subprocess.Process, timeout: float = 10.0) -> int:
    """Close its input (each helper shuts down cleanly on that), then terminate, then kill.

    Returns its exit code; never leaves it running.
    """
    if process.stdin is not None and not process.stdin.is_closing():
        process.stdin.close()
    for step in (None, process.terminate, process.kill):
        if step is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                step()
        try:
            return await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            continue
    return await process.wait()


def tail(errors: IO[str], limit: int = 500) -> str:
    """The last line a helper wrote to its error output (a temporary file): for a Python
    helper that died, the exception and its message."""
    errors.flush()
    errors.seek(0)
    lines = [line.strip() for line in errors.read().splitlines() if line.strip()]
    return lines[-1][-limit:] if lines else "no error output"
