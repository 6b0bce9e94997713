"""The notebook → clouddocs exporter: banner, cell order, one source per module, staleness."""

from __future__ import annotations

import shutil
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell

import clouddocs
from authcourse import export

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A miniature repository: one chapter notebook and an empty package folder."""
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "package").mkdir()
    shutil.copy(FIXTURES / "99_export_source.ipynb", tmp_path / "notebooks" / "99_fixture.ipynb")
    return tmp_path


def write(repo: Path) -> list[str]:
    return export.write(repo, repo / "notebooks", repo / "package")


def stale(repo: Path) -> list[str]:
    return export.stale_files(repo, repo / "notebooks", repo / "package")


def test_export_cells_become_modules_in_notebook_order(repo: Path) -> None:
    assert write(repo) == ["package/farewell.py", "package/greeting.py"]
    greeting = (repo / "package" / "greeting.py").read_text()
    assert greeting.startswith(
        "# Generated from notebooks/99_fixture.ipynb — edit the notebook, not this file.\n"
    )
    assert greeting.index("def greet(") < greeting.index("def shout(")
    # The directive line itself and non-exported cells stay out of the module.
    assert "#| export" not in greeting
    assert 'greet("Ada")' not in greeting


def test_generated_module_runs(repo: Path) -> None:
    write(repo)
    namespace: dict[str, object] = {}
    exec((repo / "package" / "greeting.py").read_text(), namespace)
    assert namespace["shout"]("ada") == "HELLO, ADA!"  # type: ignore[operator]


def test_fresh_export_is_not_stale_and_rewrites_nothing(repo: Path) -> None:
    write(repo)
    assert stale(repo) == []
    assert write(repo) == []


def test_hand_edited_module_is_named_as_stale(repo: Path) -> None:
    write(repo)
    module = repo / "package" / "greeting.py"
    module.write_text(module.read_text() + "\nPATCHED = True\n")
    [problem] = stale(repo)
    assert problem.startswith("package/greeting.py differs from notebooks/99_fixture.ipynb")


def test_changed_notebook_makes_module_stale(repo: Path) -> None:
    write(repo)
    path = repo / "notebooks" / "99_fixture.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[1].source = notebook.cells[1].source.replace("Hello", "Hi")
    nbformat.write(notebook, path)
    assert [p.split(" ")[0] for p in stale(repo)] == ["package/greeting.py"]


def test_missing_and_orphaned_modules_are_reported(repo: Path) -> None:
    write(repo)
    (repo / "package" / "farewell.py").unlink()
    orphan = repo / "package" / "old.py"
    orphan.write_text(export.BANNER.format(source="notebooks/00_gone.ipynb") + "X = 1\n")
    handwritten = repo / "package" / "__init__.py"
    handwritten.write_text('"""Hand-written, not generated."""\n')
    problems = stale(repo)
    assert problems == [
        "package/farewell.py is missing (run `make export`)",
        "package/old.py is generated but no notebook exports it any more (delete it or run"
        " `make export`)",
    ]
    write(repo)
    assert not orphan.exists() and handwritten.exists()


def test_a_module_cannot_come_from_two_notebooks(repo: Path) -> None:
    shutil.copy(repo / "notebooks" / "99_fixture.ipynb", repo / "notebooks" / "98_other.ipynb")
    with pytest.raises(export.ExportError, match="exported from both"):
        write(repo)


@pytest.mark.parametrize("target", ["clouddocs", "other.module", "clouddocs.a.b"])
def test_export_target_must_be_a_clouddocs_module(repo: Path, target: str) -> None:
    path = repo / "notebooks" / "99_fixture.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[4].source = f"#| export {target}\nX = 1"
    nbformat.write(notebook, path)
    with pytest.raises(export.ExportError, match="cell 5"):
        write(repo)


@pytest.fixture
def shell() -> Iterator[InteractiveShell]:
    """A real IPython shell with the export extension loaded, as in a chapter notebook."""
    ipython = InteractiveShell.instance()
    export.load_ipython_extension(ipython)
    yield ipython
    for name in [name for name in sys.modules if name.startswith("clouddocs.zz_")]:
        del sys.modules[name]
        delattr(clouddocs, name.rpartition(".")[2])
    InteractiveShell.clear_instance()


def run(shell: InteractiveShell, source: str) -> None:
    result = shell.run_cell(source)
    result.raise_error()


def test_export_cells_run_as_their_module_so_imports_see_the_same_objects(
    shell: InteractiveShell,
) -> None:
    run(shell, "#| export clouddocs.zz_models\nclass Credential:\n    pass")
    run(shell, "#| export clouddocs.zz_models\nclass Session:\n    pass")
    run(shell, "#| export clouddocs.zz_login\nfrom clouddocs.zz_models import Credential")
    run(shell, "from clouddocs.zz_models import Credential as Imported, Session")
    namespace = shell.user_ns
    # One class, not a notebook copy and a module copy.
    assert namespace["Imported"] is namespace["Credential"]
    assert namespace["Credential"].__module__ == "clouddocs.zz_models"
    assert sys.modules["clouddocs.zz_login"].Credential is namespace["Credential"]


def test_errors_in_export_cells_point_at_the_cell_source(shell: InteractiveShell) -> None:
    result = shell.run_cell("#| export clouddocs.zz_broken\nx = 1\nraise ValueError('boom')")
    assert isinstance(result.error_in_exec, ValueError)
    frames = traceback.extract_tb(result.error_in_exec.__traceback__)
    assert frames[-1].filename == "<export cell: clouddocs.zz_broken>"
    assert frames[-1].line == "raise ValueError('boom')"


def test_ordinary_cells_are_left_alone(shell: InteractiveShell) -> None:
    run(shell, "# not an export cell\nvalue = 41 + 1")
    assert shell.user_ns["value"] == 42
    assert "clouddocs.zz_" not in " ".join(sys.modules)
