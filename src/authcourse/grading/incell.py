"""The grading code that runs *inside* a submission's kernel, after the learner's cells.

The grader does not import this module in the kernel: it sends this file's source text
(with the checks' own source files) in one request, and a tiny bootstrap expression
(:func:`authcourse.grading.runner.bootstrap_expression`) compiles and runs it in a private
global namespace whose builtins are the interpreter's real ones. That way a learner who
redefined ``check``, patched ``authcourse.checks`` (``run_exercise``, ``Status``,
``expect``, the registry), swapped ``sys.modules`` entries or shadowed builtins in the
notebook's namespace changes nothing here: the checks run from fresh, private copies of the
files on disk, and the result travels back as the request's return value, prefixed with a
nonce the grader made up after the learner's cells had run.

Only the standard library is used, and nothing from the notebook namespace except the
names each exercise ``needs``.
"""

from __future__ import annotations

import time
from typing import Any

#: The module name this source is executed under; ``_main`` runs only then.
RUN_NAME = "__authcourse_grader__"

#: Builtins the checks rely on; each must still be the interpreter's own (written in C).
CRITICAL_BUILTINS = (
    "__build_class__ __import__ all any callable compile dict enumerate exec frozenset "
    "getattr globals hasattr id isinstance issubclass iter len list max min next object "
    "open property repr round setattr sorted staticmethod classmethod str sum super tuple "
    "type vars zip map filter range set bool int float BaseException Exception "
    "AssertionError NotImplementedError KeyError TypeError ValueError BaseExceptionGroup "
    "StopIteration SystemExit KeyboardInterrupt"
).split()

_HEAP_TYPE_FLAG = 1 << 9  # Py_TPFLAGS_HEAPTYPE: set on every class defined in Python


def tampered_builtins(builtins: dict[str, Any]) -> list[str]:
    """Names among :data:`CRITICAL_BUILTINS` that are no longer the interpreter's own."""
    type_of: Any = ().__class__.__class__  # ``type``, reached without looking up a name
    builtin_function: Any = type_of([].append)
    replaced: list[str] = []
    for name in CRITICAL_BUILTINS:
        value: Any = builtins.get(name)
        if type_of(value) is builtin_function:
            genuine = value.__name__ == name  # read-only on C functions
        elif type_of(value) is type_of:
            genuine = not value.__flags__ & _HEAP_TYPE_FLAG and value.__name__ == name
        else:
            genuine = False
        if not genuine:
            replaced.append(name)
    return replaced


def grade(params: dict[str, Any], namespace: dict[str, Any], builtins: dict[str, Any]) -> str:
    """Run the chapter's exercises on ``namespace``; the result as ``nonce + repr(dict)``."""
    nonce: str = params["nonce"]
    replaced = tampered_builtins(builtins)
    if replaced:
        return nonce + repr({"tampered": "builtins replaced: " + ", ".join(replaced)})
    started = time.monotonic()
    params["registered"] = []
    try:
        return nonce + repr(_grade(params, namespace, builtins, started))
    finally:
        modules = builtins["__import__"]("sys").modules
        for name in params["registered"]:
            modules.pop(name, None)


def _grade(
    params: dict[str, Any], namespace: dict[str, Any], builtins: dict[str, Any], started: float
) -> dict[str, Any]:
    core = _load_private_checks(params, builtins)
    core.CASE_TIMEOUT_SECONDS = params["case_timeout"]
    registry = core._REGISTRY
    chapter: str = params["chapter"]
    exercises = sorted(
        (ex for ex in registry.values() if ex.chapter == chapter),
        key=lambda ex: [int(part) for part in ex.id.split(".")],
    )
    results: list[dict[str, Any]] = []
    for ex in exercises:
        if time.monotonic() - started > params["budget"]:
            results.append({"id": ex.id, "skipped": "not checked: the grading time budget ran out"})
            continue
        result = core.run_exercise(ex, namespace)
        results.append(
            {
                "id": ex.id,
                "score": float(result.score),
                "points": ex.points,
                "status": str(result.status.value),
                "cases": [
                    {
                        "description": str(case.description),
                        "status": str(case.status.value),
                        "message": str(case.message),
                    }
                    for case in result.cases
                ],
            }
        )
    return {"exercises": results}


def _load_private_checks(params: dict[str, Any], builtins: dict[str, Any]) -> Any:
    """Fresh copies of ``checks/core.py`` and the chapter modules, under private names.

    The chapter modules' ``from authcourse.checks import ...`` is answered by the private
    copy through their own ``__import__``; ``sys.modules`` is only borrowed while a module
    body runs (``dataclasses`` looks its module up there) and then restored.
    """
    real_import = builtins["__import__"]
    sys = real_import("sys")
    module_type = ().__class__.__class__(sys)
    tag: str = params["nonce"][:12]
    core_name, core_file, core_source = params["core"]
    facade = module_type(f"_authcourse_private_checks_{tag}")
    parent = module_type(f"_authcourse_private_{tag}")

    def private_import(
        name: str,
        globals: dict[str, Any] | None = None,
        locals: dict[str, Any] | None = None,
        fromlist: tuple[str, ...] | list[str] | None = (),
        level: int = 0,
    ) -> Any:
        if level == 0 and name in ("authcourse.checks", "authcourse.checks.core"):
            if fromlist:
                return core if name.endswith(".core") else facade
            return parent
        if level == 0 and name == "authcourse" and fromlist and "checks" in fromlist:
            return parent
        return real_import(name, globals, locals, fromlist, level)

    registered: list[str] = params["registered"]
    private_builtins = dict(builtins)
    private_builtins["__import__"] = private_import

    def load(name: str, filename: str, source: str) -> Any:
        # Registered in sys.modules (under a name no learner could have guessed) while the
        # checks run: dataclasses, pydantic and FastAPI look a module up there by name.
        module = module_type(f"_authcourse_private_{name}_{tag}")
        module.__dict__["__builtins__"] = private_builtins
        module.__dict__["__file__"] = filename
        sys.modules[module.__name__] = module
        registered.append(module.__name__)
        # dont_inherit: this file's ``from __future__ import annotations`` must not leak in.
        code = builtins["compile"](source, filename, "exec", dont_inherit=True)
        builtins["exec"](code, module.__dict__)
        return module

    core = load(core_name, core_file, core_source)
    for public in (
        "Case CaseResult CheckFailed Exercise ExerciseResult Namespace Status exercise "
        "expect expect_equal run_exercise"
    ).split():
        setattr(facade, public, getattr(core, public))
    facade.core = core
    parent.checks = facade
    for name, filename, source in params["chapters"]:
        load(name, filename, source)
    return core


if __name__ == RUN_NAME:  # executed by the grader's bootstrap, never imported
    _scope = globals()
    _scope["_RESULT"] = grade(_scope["_PARAMS"], _scope["_NAMESPACE"], _scope["__builtins__"])
