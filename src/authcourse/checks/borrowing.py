"""Answers that cannot be borrowed: the learner's objects against the course's own answers.

The course ships its reference package (``clouddocs``) and its checks, and both contain
code that answers the labs: ``rotate_refresh`` is exercise 03.3 solved. Each exercise
declares that code (``answered_by``); :func:`borrowed` says, in plain words, which of the
learner's names *is*, *wraps* or *calls* one of those objects:

- the same object (``from clouddocs.refresh_tokens import rotate_refresh``), a subclass,
  a bound method, ``functools.partial`` or ``__wrapped__`` around it;
- a function running the same code object (``types.FunctionType(ref.__code__, ...)``);
- a function (or a method of a class, or a learner helper it calls, a few levels deep)
  whose code names a reference: ``rotate_api_key(...)``, ``apikeys.rotate_api_key(...)``,
  ``TokenService(...).issue(...)`` when ``TokenService.issue`` is declared.

Everything is looked at without calling the learner's code (``inspect.getattr_static``,
code objects' names), so looking cannot run it. This is detection of the common ways to
borrow, not a proof: copying the reference's source text into a cell is not seen here.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import types
from collections.abc import Iterator
from typing import Any

from authcourse.checks.registry import Exercise, Namespace

#: How many of the learner's own helpers deep a call is followed.
_DEPTH = 4


def resolve(reference: object) -> object:
    """The object a reference names: ``"pkg.module.Class.method"`` or the object itself."""
    if not isinstance(reference, str):
        return reference
    parts = reference.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            value: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:]:
            value = inspect.getattr_static(value, name)
        return _unwrap_descriptor(value)
    raise LookupError(f"answered_by names {reference!r}, which cannot be imported")


def _unwrap_descriptor(value: object) -> object:
    if isinstance(value, staticmethod | classmethod):
        return value.__func__
    if isinstance(value, property) and value.fget is not None:
        return value.fget
    return value


def _label(reference: object) -> str:
    if isinstance(reference, str):
        return reference
    module = getattr(reference, "__module__", "") or ""
    name = getattr(reference, "__qualname__", None) or repr(reference)
    return f"{module}.{name}" if module else str(name)


def borrowed(exercise: Exercise, namespace: Namespace) -> list[str]:
    """One plain sentence per needed name that is, wraps or calls a declared answer."""
    if not exercise.answered_by:
        return []
    answers = {id(resolve(ref)): _label(ref) for ref in exercise.answered_by}
    codes = {
        id(code): label
        for ref, label in ((resolve(r), _label(r)) for r in exercise.answered_by)
        if (code := getattr(ref, "__code__", None)) is not None
    }
    found: list[str] = []
    for name in exercise.needs:
        if name not in namespace:
            continue
        try:
            how = _borrows(namespace[name], answers, codes, set(), 0)
        except Exception:  # an object that cannot be looked at is not evidence either way
            how = None
        if how is not None:
            found.append(f"`{name}` {how}")
    return found


def message(found: list[str]) -> str:
    """The note every case of an exercise gets when its answer is borrowed."""
    return (
        f"scored 0: {'; '.join(found)}, and that is the course's own answer to this exercise;"
        " write your own implementation (importing or calling the reference code does not count)"
    )


def _borrows(
    value: object, answers: dict[int, str], codes: dict[int, str], seen: set[int], depth: int
) -> str | None:
    if id(value) in seen or depth > _DEPTH:
        return None
    seen.add(id(value))
    if id(value) in answers:
        return f"is {answers[id(value)]}"
    for inner in _wrapped(value):
        how = _borrows(inner, answers, codes, seen, depth + 1)
        if how is not None:
            return how if how.startswith("wraps") or how.startswith("calls") else f"wraps {how[3:]}"
    if isinstance(value, type):
        for base in value.__mro__[1:]:
            if id(base) in answers:
                return f"wraps {answers[id(base)]} (a subclass of it)"
        for attribute in list(vars(value).values()):
            how = _borrows(_unwrap_descriptor(attribute), answers, codes, seen, depth + 1)
            if how is not None:
                return how
        return None
    if isinstance(value, types.FunctionType):
        if id(value.__code__) in codes:
            return f"runs the code of {codes[id(value.__code__)]}"
        return _calls(value, answers, codes, seen, depth)
    return None


def _wrapped(value: object) -> Iterator[object]:
    """What a wrapper around ``value`` delegates to (bound method, partial, decorator)."""
    if isinstance(value, types.MethodType):
        yield value.__func__
    if isinstance(value, functools.partial):
        yield value.func
        yield from value.args
        yield from value.keywords.values()
    try:
        inner = inspect.getattr_static(value, "__wrapped__")
    except AttributeError:
        return
    yield inner


def _calls(
    function: types.FunctionType,
    answers: dict[int, str],
    codes: dict[int, str],
    seen: set[int],
    depth: int,
) -> str | None:
    """``calls <reference>`` if the function's code names one (directly or via a helper)."""
    names = set(_code_names(function.__code__))
    scope: dict[str, Any] = dict(function.__globals__)
    cells = function.__closure__ or ()
    for cell_name, cell in zip(function.__code__.co_freevars, cells, strict=False):
        try:
            scope[cell_name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    containers: list[object] = []
    for name in names:
        if name not in scope:
            continue
        value = scope[name]
        if id(value) in answers:
            return f"calls {answers[id(value)]}"
        if isinstance(value, types.ModuleType | type):
            containers.append(value)
        elif _learner_code(value):
            how = _borrows(value, answers, codes, seen, depth + 1)
            if how is not None:
                return how if how.startswith("calls") else f"calls {how.split(' ', 1)[1]}"
        else:
            containers.append(type(value))  # ``service.issue(...)`` on a module-level object
    # ``clouddocs.apikeys.rotate_api_key(...)``: follow attribute chains through modules and
    # classes the code names, a few levels deep.
    looked: set[int] = set()
    for _ in range(_DEPTH):
        found: list[object] = []
        for container in containers:
            if id(container) in looked:
                continue
            looked.add(id(container))
            for name in names:
                try:
                    value = _unwrap_descriptor(inspect.getattr_static(container, name))
                except AttributeError:
                    continue
                if id(value) in answers:
                    return f"calls {answers[id(value)]}"
                if isinstance(value, types.ModuleType | type):
                    found.append(value)
        containers = found
    return None


def _code_names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    yield from code.co_freevars
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _code_names(constant)


def _learner_code(value: object) -> bool:
    # The learner's own helpers (defined in a notebook cell) are followed; libraries are not.
    if isinstance(value, types.FunctionType):
        filename = value.__code__.co_filename
        return (
            value.__module__ in ("__main__", None)
            or filename.startswith("<")
            or "ipykernel_" in filename
        )
    if isinstance(value, type):
        return value.__module__ == "__main__"
    return False
