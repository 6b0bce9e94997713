"""A runaway or hostile exercise never costs another its points in a live ``check_all``,
and nothing a learner's object does while being shown reaches the caller.

On Linux ``check``/``check_all`` run cases in forked children that are killed when a case
does not finish; elsewhere the learner is told to restart the kernel.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from authcourse import checks
from authcourse.checks import check, check_all, registry, runner
from authcourse.checks.core import Exercise, Status, exercise, expect, expect_equal


@pytest.fixture(autouse=True)
def private_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    list(registry.all_exercises())  # load every chapter into the real registry first
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(runner, "CASE_TIMEOUT_SECONDS", 0.5)
    yield


def _chapter() -> list[Exercise]:
    """Chapter 96: three exercises; each shows what it got with repr()/str()."""
    made = []
    for number in (1, 2, 3):
        ex = exercise(f"96.{number}", f"Exercise {number}", points=2, needs=(f"f{number}",))

        @ex.case("f(1) is 2", positive=True)
        def _(ns: Any, number: int = number) -> None:
            got = ns[f"f{number}"](1)
            expect(got == 2, "calling f(1)", "2", got)

        @ex.case("f(2) is 3")
        def _(ns: Any, number: int = number) -> None:
            expect_equal(ns[f"f{number}"](2), 3, "calling f(2)")

        made.append(ex)
    return made


def _good(x: int) -> int:
    return x + 1


class _NeverEndingRepr:
    def __repr__(self) -> str:
        while True:
            pass

    def __eq__(self, other: object) -> bool:
        return False

    __hash__ = object.__hash__


class _RaisingStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no message for you")


class _NeverEndingStr(Exception):
    def __str__(self) -> str:
        while True:
            pass


def _endless() -> int:
    while True:
        pass


def _swallowing_loop(x: int) -> int:
    while True:
        try:
            time.sleep(0.01)
        except BaseException:
            pass


def _raises(kind: type[BaseException]) -> Any:
    def f(x: int) -> int:
        raise kind()

    return f


HOSTILE = {
    "endless loop": lambda x: _endless(),
    "loop swallowing interrupts": _swallowing_loop,
    "repr never ends": lambda x: _NeverEndingRepr(),
    "__str__ raises": _raises(_RaisingStr),
    "__str__ never ends": _raises(_NeverEndingStr),
}


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
def test_a_hostile_exercise_costs_only_itself(hostile: str) -> None:
    _chapter()
    namespace = {"f1": _good, "f2": HOSTILE[hostile], "f3": _good}
    started = time.monotonic()
    report = check_all("96", namespace)  # never raises, always returns
    elapsed = time.monotonic() - started
    scores = {result.exercise.id: result.score for result in report.results}
    assert scores == {"96.1": 2, "96.2": 0, "96.3": 2}, report.text()
    assert elapsed < 8, elapsed
    text = report.text()
    assert "96.3 Exercise 3 — 2/2 points" in text
    if "never" in hostile or "loop" in hostile:
        assert "did not finish within 0.5 s" in text


def test_a_raising_str_is_a_crash_not_an_exception_in_the_cell() -> None:
    _chapter()
    report = check("96.1", {"f1": _raises(_RaisingStr)})
    (case, _) = report.results[0].cases
    assert case.status is Status.CRASHED
    assert "could not be shown" in case.message


@pytest.mark.skipif(not runner.CAN_ISOLATE, reason="forked children need Linux")
def test_a_runaway_is_killed_and_leaves_nothing_running() -> None:
    _chapter()
    before = {thread.ident for thread in __import__("threading").enumerate()}
    report = check_all("96", {"f1": _swallowing_loop, "f2": _good, "f3": _good})
    assert [r.score for r in report.results] == [0, 2, 2]
    after = {thread.ident for thread in __import__("threading").enumerate()}
    assert after <= before  # the spinning case died with its child process
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # and every child was reaped


def test_without_isolation_the_learner_is_told_to_restart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(checks, "CAN_ISOLATE", False)
    _chapter()
    report = check_all("96", {"f1": _good, "f2": _swallowing_loop, "f3": _good})
    text = report.text()
    assert "restart the kernel" in text
    assert "96.1 Exercise 1 — 2/2 points" in text
    assert "not checked: a case of 96.2 did not finish" in text


def test_results_travel_in_one_schema_and_nothing_in_them_is_believed() -> None:
    (ex, *_) = _chapter()
    result = runner.run_exercise(ex, {"f1": lambda x: 0})
    data = result.as_dict()
    assert data["cases"][1]["status"] == "failed"  # refusal not counted: f(1) failed
    again = runner.ExerciseResult.from_dict(data, ex)
    assert again.as_dict() == data
    forged = {**data, "score": 2, "cases": [dict(c, status="passed") for c in data["cases"]]}
    forged["cases"][0]["status"] = "failed"
    assert runner.ExerciseResult.from_dict(forged, ex).score == 0  # the refusal is gated
    with pytest.raises(ValueError):
        runner.ExerciseResult.from_dict({**data, "cases": data["cases"][:1]}, ex)
    with pytest.raises(ValueError):
        runner.ExerciseResult.from_dict({**data, "id": "96.2"}, ex)
    missing = runner.run_exercise(ex, {})
    assert missing.missing == ("f1",) and missing.as_dict()["missing"] == ["f1"]


@pytest.mark.slow
@pytest.mark.skipif(not runner.CAN_ISOLATE, reason="forked children need Linux")
def test_in_a_real_kernel_check_all_keeps_correct_exercises_after_a_runaway() -> None:
    import copy

    import nbformat
    from conftest import solution
    from nbclient import NotebookClient

    notebook = copy.deepcopy(solution())
    notebook.cells[2].source = "def add(a, b):\n    while True:\n        pass"
    notebook.cells.insert(
        1,
        nbformat.v4.new_code_cell(
            "from authcourse.checks import runner\nrunner.CASE_TIMEOUT_SECONDS = 1"
        ),
    )
    notebook.cells.append(nbformat.v4.new_code_cell('print(check_all("99").score)'))
    NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
    printed = "".join(out.get("text", "") for out in notebook.cells[-1].outputs)
    assert float(printed) == 3, printed  # 99.2 and 99.3 keep their points
    shown = "".join(out.get("data", {}).get("text/plain", "") for out in notebook.cells[-2].outputs)
    assert "did not finish within 1 s" in shown and "2/2 points" in shown, shown
