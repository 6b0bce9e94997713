"""``make doctor``: is this machine ready for the course? (A command to send attendees.)

Two stages, because the first must run before anything is installed:

``python src/authcourse/doctor.py venv [--python P] [--venv DIR]``
    Run by whatever ``python3`` the machine has (any 3.x: this file avoids newer syntax in
    that stage). Checks that ``P`` is a supported Python *before* ``.venv/`` is created, and
    that an existing ``.venv/`` runs and has a supported version. A broken or wrong-version
    ``.venv/`` is removed and created again with ``P``, with a plain message saying so.

``.venv/bin/python -m authcourse.doctor check``
    Inside the environment: the course's packages import, a Jupyter kernel starts and runs
    a line, and one in-process HTTP request to a FastAPI app succeeds.

Exit status 0 when everything is fine, 1 with a plain message otherwise.
"""

# ruff: noqa: UP031  (the first stage runs on whatever old python3 a machine has: %-format)

import os
import shutil
import subprocess
import sys

#: The Python versions the course supports (pyproject's ``requires-python``).
SUPPORTED = ((3, 11), (3, 12), (3, 13))
_VERSION_PROBE = "import sys; print('%d.%d' % sys.version_info[:2])"


def _say(text):  # type: (str) -> None
    print("doctor: " + text, flush=True)


def python_version(python):  # type: (str) -> tuple[int, int] | None
    """``(major, minor)`` of the interpreter ``python``, or None if it does not run."""
    try:
        done = subprocess.run(
            [python, "-c", _VERSION_PROBE],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    try:
        major, minor = done.stdout.decode().strip().split(".")
        return int(major), int(minor)
    except ValueError:
        return None


def _supported_text():  # type: () -> str
    return ", ".join("%d.%d" % version for version in SUPPORTED)


def check_venv(python, venv, bare=False):  # type: (str, str, bool) -> int
    """Make sure ``venv`` is a working environment of a supported Python; 0 when it is."""
    version = python_version(python)
    if version is None:
        _say(
            "cannot run %r. Install Python %s and run again with PYTHON=/path/to/python3.12"
            % (python, _supported_text())
        )
        return 1
    if version not in SUPPORTED:
        _say(
            "%s is Python %d.%d; the course needs Python %s. Install one of those and run"
            " again, e.g. `make doctor PYTHON=python3.12`. Nothing was created."
            % (python, version[0], version[1], _supported_text())
        )
        return 1
    inside = os.path.join(venv, "Scripts" if os.name == "nt" else "bin", "python")
    if os.path.isdir(venv):
        existing = python_version(inside)
        if existing is None:
            _say("%s is broken (its Python does not run): removing it and creating it again" % venv)
        elif existing not in SUPPORTED:
            _say(
                "%s was made with Python %d.%d, which the course does not support: removing it"
                " and creating it again with %s" % (venv, existing[0], existing[1], python)
            )
        else:
            _say("Python %d.%d in %s: fine" % (existing[0], existing[1], venv))
            return 0
        shutil.rmtree(venv)
    command = [python, "-m", "venv", venv] + (["--without-pip"] if bare else [])
    if subprocess.run(command, check=False).returncode != 0:
        _say("`%s` failed: see the message above" % " ".join(command))
        return 1
    _say("created %s with Python %d.%d" % (venv, version[0], version[1]))
    return 0


# --- the second stage, inside the environment ----------------------------------------------

#: What the notebooks import (a missing one means the install did not finish).
MODULES = (
    "fastapi",
    "sqlalchemy",
    "authlib",
    "jwt",
    "argon2",
    "limits",
    "httpx2",
    "nbformat",
    "ipykernel",
    "jupyter_client",
    "jupyterlab",
    "clouddocs",
    "authcourse",
)


def check_imports():  # type: () -> list[str]
    import importlib

    problems = []
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception as error:  # any failure to import is the learner's install problem
            problems.append("cannot import %s (%s: %s)" % (name, type(error).__name__, error))
    return problems


def check_kernel(timeout=60.0):  # type: (float) -> list[str]
    """Start a Python kernel, run one line in it, shut it down."""
    from jupyter_client.manager import start_new_kernel

    try:
        manager, client = start_new_kernel(kernel_name="python3", startup_timeout=timeout)
    except Exception as error:
        return ["a Jupyter kernel did not start (%s: %s)" % (type(error).__name__, error)]
    try:
        reply = client.execute_interactive("answer = 6 * 7", timeout=timeout)
        if reply["content"]["status"] != "ok":
            return ["the kernel started but could not run a line of Python"]
        return []
    except Exception as error:
        return ["the kernel did not answer (%s: %s)" % (type(error).__name__, error)]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def check_request():  # type: () -> list[str]
    """One in-process request to a FastAPI app, the way every chapter makes them."""
    import asyncio

    from fastapi import FastAPI

    from authcourse.client import asgi_client

    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "ok"}

    async def ask() -> int:
        async with asgi_client(app) as http:
            return (await http.get("/ping")).status_code

    try:
        status = asyncio.run(ask())
    except Exception as error:
        return ["an in-process request failed (%s: %s)" % (type(error).__name__, error)]
    return [] if status == 200 else ["an in-process request answered %d, not 200" % status]


def check_environment():  # type: () -> int
    version = sys.version_info[:2]
    if version not in SUPPORTED:
        _say("this environment runs Python %d.%d; run `make clean doctor`" % version)
        return 1
    for name, step in (
        ("imports", check_imports),
        ("a kernel starts", check_kernel),
        ("an in-process request", check_request),
    ):
        problems = step()
        for problem in problems:
            _say(problem)
        if problems:
            _say("%s: FAILED (see above; `make clean doctor` reinstalls)" % name)
            return 1
        _say("%s: fine" % name)
    _say("ready for the course")
    return 0


def main(argv=None):  # type: (list[str] | None) -> int
    import argparse

    parser = argparse.ArgumentParser(prog="doctor", description=__doc__.split("\n")[0])
    stages = parser.add_subparsers(dest="stage", required=True)
    venv = stages.add_parser("venv", help="check the Python, then .venv/ (before installing)")
    venv.add_argument("--python", default=sys.executable)
    venv.add_argument("--venv", default=".venv")
    venv.add_argument("--bare", action="store_true", help="create without pip (tests)")
    stages.add_parser("check", help="inside .venv: imports, a kernel, a request")
    args = parser.parse_args(argv)
    if args.stage == "venv":
        return check_venv(args.python, args.venv, args.bare)
    return check_environment()


if __name__ == "__main__":
    sys.exit(main())
