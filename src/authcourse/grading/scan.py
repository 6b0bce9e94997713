"""Reading a submission's source without running it: check cells, chapter hints, tampering.

:func:`findings` lists, for one cell, what in its source reaches into the grading machinery
or the interpreter's plumbing. A cell with findings is left out of the clean re-check
(see :mod:`authcourse.grading`), so the scan may be broad: an honest cell it flags costs
nothing unless the points it earned depend on it.
"""

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
        re.compile(
            r"\b(run_exercise|_REGISTRY|CheckFailed|(?:core|runner|checks)\s*\.\s*Status)\b"
        ),
        "mentions the checks' internals",
    ),
    (
        re.compile(
            r"input_transformers|\.events\.register|set_custom_exc|display_formatter"
            r"|user_expressions|\bget_ipython\s*\(\s*\)\s*\.\s*(?!run_line_magic|system)\w+"
            r"|\bimport\s+ipykernel\b|\bfrom\s+(?:IPython|ipykernel)\b(?!\.display\b)|\bimport\s+IPython\b"
        ),
        "hooks into IPython",
    ),
    (
        re.compile(
            r"\bsettrace\b|\bsetprofile\b|\baddaudithook\b|_getframe|\bgc\s*\.\s*get_"
            r"|\bimport\s+gc\b|\bctypes\b|_current_frames"
        ),
        "inspects the interpreter",
    ),
    (re.compile(r"""["'/\\]solutions\b|\bsolutions[/\\]"""), "mentions the course's solutions"),
    (
        re.compile(r"site-packages|dist-packages|__file__|\bimportlib\s*\.\s*reload\b"),
        "reaches for where packages are installed",
    ),
    (re.compile(r"\bexec\s*\(|\beval\s*\(|\brunpy\b|%run\b"), "runs code from elsewhere"),
    (re.compile(r"\b__import__\b|\bimport_module\b"), "imports modules by name"),
    (
        # The classic ways from any object to any module: subclasses, globals, frames, code.
        re.compile(
            r"__subclasses__|__globals__|__closure__|__code__|__mro__|__bases__|\bf_back\b"
            r"|\bf_globals\b|\bf_locals\b|\btb_frame\b|\bgi_frame\b|\bcr_frame\b"
            r"|\bcurrentframe\b|\binspect\s*\.\s*stack\b"
        ),
        "walks the interpreter's internals",
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


#: ``from authcourse.checks import check, hint`` is what README tells learners to write.
_NAMES = r"(?:check_all|check|hint)(?:\s*,\s*(?:check_all|check|hint))*"
_FRONT_END_IMPORT = re.compile(
    rf"^[ \t]*from[ \t]+authcourse(?:\.checks)?[ \t]+import[ \t]+"
    rf"(?:\(\s*{_NAMES}\s*,?\s*\)|{_NAMES})[ \t]*(?:#[^\n]*)?$",
    re.MULTILINE,
)


def findings(source: str) -> list[str]:
    """Plain reasons to suspect this cell reaches into the machinery (may be empty)."""
    reasons: list[str] = []
    plain = _FRONT_END_IMPORT.sub("", source)
    for pattern, reason in _SUSPICIOUS:
        if pattern.search(plain) and reason not in reasons:
            reasons.append(reason)
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return reasons
    for reason in (*_redefined_front_end(tree), *_module_patches(tree)):
        if reason not in reasons:
            reasons.append(reason)
    return reasons


def tampering(sources: Iterable[str]) -> list[str]:
    """Every reason :func:`findings` gives for any of the sources, once each."""
    reasons: list[str] = []
    for source in sources:
        for reason in findings(source):
            if reason not in reasons:
                reasons.append(reason)
    return reasons


def _redefined_front_end(tree: ast.AST) -> list[str]:
    """Names of the front end rebound in the notebook's own namespace.

    Only the cell's top level (including ``if``/``for``/``with``/``try`` blocks) counts: a
    local variable named ``check`` inside a function or class changes nothing the grader
    or the learner's ``check(...)`` calls use.
    """
    names: list[str] = []
    for node in _top_level_nodes(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            candidates = [node.name]
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            candidates = [node.id]
        elif isinstance(node, ast.alias) and node.asname:
            candidates = [node.asname] if node.name not in FRONT_END else []
        else:
            continue
        names.extend(name for name in candidates if name in FRONT_END and name not in names)
    return [f"redefines `{name}`" for name in names]


def _top_level_nodes(tree: ast.AST) -> Iterable[ast.AST]:
    """Every node of ``tree`` outside function, lambda and class bodies (their names too)."""
    pending = [tree]
    while pending:
        node = pending.pop()
        yield node
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue  # its name is bound here (yielded above); its body is another scope
        if isinstance(node, ast.Lambda | ast.ListComp | ast.SetComp | ast.DictComp):
            continue
        if isinstance(node, ast.GeneratorExp):
            continue
        pending.extend(ast.iter_child_nodes(node))


def _module_patches(tree: ast.AST) -> list[str]:
    """Assignments (and ``setattr``/``del``) to attributes of imported modules."""
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            # ``from authcourse.checks import core``: a name that may be a module.
            modules.update(alias.asname or alias.name for alias in node.names if alias.name != "*")
    found: list[str] = []

    def target(node: ast.expr) -> None:
        if isinstance(node, ast.Attribute | ast.Subscript):
            root = node.value
            while isinstance(root, ast.Attribute | ast.Subscript | ast.Call):
                root = root.func if isinstance(root, ast.Call) else root.value
            if isinstance(root, ast.Name) and root.id in modules:
                found.append(f"assigns `{ast.unparse(node)}` (an attribute of an imported module)")
        elif isinstance(node, ast.Tuple | ast.List):
            for element in node.elts:
                target(element)

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for each in node.targets:
                target(each)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            target(node.target)
        elif isinstance(node, ast.Delete):
            for each in node.targets:
                target(each)
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("setattr", "delattr")
            and node.args
            and isinstance(node.args[0], ast.Name | ast.Attribute)
        ):
            root: ast.expr = node.args[0]
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in modules:
                found.append(f"calls {node.func.id} on `{ast.unparse(node.args[0])}`")
    return found
