"""The bench app served by uvicorn on 127.0.0.1, in a subprocess, for a bounded while.

In-process numbers leave out the network stack and the server; this serves the same
routes (:mod:`authcourse.bench.apps`) over real loopback sockets, so the report can show
both. The server runs in its own process (``python -m authcourse.bench.loopback``), as it
would in production, on a port the system picks; it prints one JSON line (the port and
the request that succeeds on each route) and serves until its standard input closes,
which :func:`loopback_server` does on the way out, or until ``--max-seconds`` have passed,
so it never outlives the bench. Only 127.0.0.1 is ever bound or contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from authcourse.bench.subprocesses import stop, tail
from authcourse.bench.timing import HttpCall

HOST = "127.0.0.1"
#: The server stops by itself after this long, whatever happens to the bench.
DEFAULT_MAX_SECONDS = 900.0


@dataclass(frozen=True)
class LoopbackServer:
    """A running server: where it listens and what to send to each route."""

    base_url: str
    port: int
    pid: int
    calls: dict[str, HttpCall]


class ServerDidNotStart(RuntimeError):
    """The subprocess exited or stayed silent instead of reporting its port."""


@contextlib.asynccontextmanager
async def loopback_server(
    *, startup_timeout: float = 60.0, max_seconds: float = DEFAULT_MAX_SECONDS
) -> AsyncIterator[LoopbackServer]:
    """Start the server subprocess, yield where it listens, then stop it (always)."""
    command = [
        sys.executable,
        "-m",
        "authcourse.bench.loopback",
        "--max-seconds",
        str(max_seconds),
    ]
    with tempfile.TemporaryFile("w+") as errors:
        process = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=errors,
        )
        try:
            assert process.stdout is not None
            try:
                line = await asyncio.wait_for(process.stdout.readline(), startup_timeout)
            except TimeoutError:
                line = b""
            if not line:
                raise ServerDidNotStart(f"the loopback server did not start: {tail(errors)}")
            ready = json.loads(line)
            port = int(ready["port"])
            yield LoopbackServer(
                base_url=f"http://{HOST}:{port}",
                port=port,
                pid=process.pid,
                calls={label: HttpCall.from_dict(call) for label, call in ready["calls"].items()},
            )
        finally:
            await stop(process)


# --- the subprocess ------------------------------------------------------------------


async def serve(max_seconds: float) -> None:
    """Serve the bench app on a free loopback port until stdin closes or time runs out."""
    import uvicorn

    from authcourse.bench.apps import auth_methods_app

    async with auth_methods_app() as bench:
        # proto=IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on sockets that
        # say they are TCP. Without it Nagle's algorithm holds the response body back until
        # the client's delayed ACK (~40 ms), and every request would measure that timer.
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listener.bind((HOST, 0))
        port = listener.getsockname()[1]
        config = uvicorn.Config(bench.app, log_level="warning", access_log=False, lifespan="off")
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(sockets=[listener]))
        while not server.started:
            if serving.done():  # it failed before starting: let its exception through
                await serving
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        calls = {label: call.as_dict() for label, call in bench.calls.items()}
        print(json.dumps({"port": port, "calls": calls}), flush=True)
        # The parent closes our stdin when it is done (or when it dies).
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(input_closed(), max_seconds)
        server.should_exit = True
        await serving
        listener.close()


async def input_closed() -> None:
    """Return once standard input reaches its end.

    Read in a daemon thread: a blocked read must not keep the process alive once the
    time limit has passed (``asyncio.to_thread`` would, at interpreter exit).
    """
    loop = asyncio.get_running_loop()
    closed = asyncio.Event()

    def read_to_end() -> None:
        with contextlib.suppress(OSError, ValueError):
            sys.stdin.read()
        with contextlib.suppress(RuntimeError):  # the loop may be gone already
            loop.call_soon_threadsafe(closed.set)

    threading.Thread(target=read_to_end, name="stdin-watch", daemon=True).start()
    await closed.wait()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--max-seconds", type=float, default=DEFAULT_MAX_SECONDS)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.max_seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
