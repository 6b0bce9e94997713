"""Reading a submission's source without running it: check cells, chapter hints, tampering."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

FRONT_END = frozenset({"check", "check_all", "hint"})

_CHECK_CALL = re.compile(r"""\bcheck(?:_all)?\(\s*["'](\d\d)(?:\.\d+)?["']""")

#: Source patterns that reach into the grading machinery or the interpreter's plumbing.
_SUSPICIOUS = (
    (
        # ``from authcourse.checks.chNN import helper`` is how labs get fixtures: fine.
        re.compile(r"\bauthcourse\.checks\b(?!\.ch\d\d\b)"),
        "uses authcourse.checks internals",
    ),
    (re.compile(r"\bauthcourse\.grading\b"), "uses authcourse.grading"),
    (re.compile(r"\bsys\s*\.\s*modules\b"), "touches sys.modules"),
    (re.compile(r"\b__builtins__\b|\bimport\s+builtins\b|\bbuiltins\s*\."), "touches builtins"),
    (
        re.compile(r"\b(run_exercise|_REGISTRY|CheckFailed|Status\s*\.)"),
        "mentions the checks' internals",
    ),
    (
        re.compile(r"input_transformers|\.events\.register|set_custom_exc|display_formatter"),
        "hooks into IPython",
    ),
    (
        re.compile(r"\bsettrace\b|\bsetprofile\b|\baddaudithook\b|_getframe|\bgc\.get_objects\b"),
        "inspects the interpreter",
    ),
)


def is_front_end_cell(source: str) -> bool:
    """True for a cell that only calls ``check``/``check_all``/``hint`` (the grader skips it)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    if not tree.body:
        return False
    for statement in tree.body:
        if not (
            isinstance(statement, ast.Expr)
            and isinstance(statement.value, ast.Call)
            and isinstance(statement.value.func, ast.Name)
            and statement.value.func.id in FRONT_END
        ):
            return False
    return True


def chapters_checked(sources: Iterable[str]) -> set[str]:
    """The chapters named by ``check("NN.k")``/``check_all("NN")`` calls in the sources."""
    found: set[str] = set()
    for source in sources:
        found.update(_CHECK_CALL.findall(source))
    return found


def tampering(sources: Iterable[str]) -> list[str]:
    """Plain reasons to suspect the submission tries to fake its checks (may be empty)."""
    reasons: list[str] = []
    for source in sources:
        for pattern, reason in _SUSPICIOUS:
            if pattern.search(source) and reason not in reasons:
                reasons.append(reason)
        for name in _redefined_front_end(source):
            reason = f"redefines `{name}`"
            if reason not in reasons:
                reasons.append(reason)
    return reasons


def _redefined_front_end(source: str) -> list[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            candidates = [node.name]
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            candidates = [node.id]
        elif isinstance(node, ast.alias) and node.asname:
            candidates = [node.asname] if node.name not in FRONT_END else []
        else:
            continue
        names.extend(name for name in candidates if name in FRONT_END and name not in names)
    return names
