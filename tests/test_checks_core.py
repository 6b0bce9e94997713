"""The exercise registry and the notebook front-end: check, check_all, hint."""

from __future__ import annotations

import linecache
from collections.abc import Iterator
from typing import Any

import pytest

from authcourse import checks
from authcourse.checks import (
    STRICT_ENV_VAR,
    CheckFailed,
    Status,
    check,
    check_all,
    core,
    exercise,
    expect,
    expect_equal,
    hint,
    registry,
    run_exercise,
    runner,
)


@pytest.fixture(autouse=True)
def private_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test registers its own chapter "97" exercises; the real registry is untouched."""
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(checks, "_hints_shown", type(checks._hints_shown)(int))
    monkeypatch.delenv(STRICT_ENV_VAR, raising=False)
    yield


def make(id: str = "97.1", **kwargs: Any) -> core.Exercise:
    options: dict[str, Any] = {"points": 2, "needs": ("f",), "hints": ()}
    options.update(kwargs)
    return exercise(id, f"Exercise {id}", **options)


def test_a_case_that_returns_passes() -> None:
    ex = make()

    @ex.case("f(1) is 2")
    def _(ns: Any) -> None:
        expect_equal(ns["f"](1), 2, "calling f(1)")

    result = run_exercise(ex, {"f": lambda x: x + 1})
    assert [case.status for case in result.cases] == [Status.PASSED]
    assert result.status is Status.PASSED and result.score == 2


def test_a_failed_case_says_what_was_tried_expected_and_got() -> None:
    ex = make()

    @ex.case("f(1) is 2")
    def _(ns: Any) -> None:
        expect_equal(ns["f"](1), 2, "calling f(1)")

    (case,) = run_exercise(ex, {"f": lambda x: x}).cases
    assert case.status is Status.FAILED
    assert case.message == "calling f(1): expected 2, but got 1"


def test_expect_shows_plain_words_and_check_failed_carries_them() -> None:
    with pytest.raises(CheckFailed) as raised:
        expect(False, "sending an alg=none token", "a 401 response", "a 200")
    assert (raised.value.tried, raised.value.expected, raised.value.actual) == (
        "sending an alg=none token",
        "a 401 response",
        "a 200",
    )
    with pytest.raises(CheckFailed) as raised:
        expect(False, "reading the claims", "a dict", 42)
    assert raised.value.actual == "42"


def test_long_values_are_cut_in_messages() -> None:
    ex = make()

    @ex.case("f returns 'a'")
    def _(ns: Any) -> None:
        expect_equal(ns["f"](), "a", "calling f()")

    (case,) = run_exercise(ex, {"f": lambda: "x" * 10_000}).cases
    assert case.status is Status.FAILED and len(case.message) <= core.MESSAGE_LIMIT


def test_the_stub_is_not_started() -> None:
    ex = make()

    @ex.case("f works")
    def _(ns: Any) -> None:
        ns["f"]()

    def stub() -> None:
        raise NotImplementedError()

    result = run_exercise(ex, {"f": stub})
    assert result.status is Status.NOT_STARTED and result.score == 0
    assert "NotImplementedError" in result.cases[0].message


def test_a_stub_wrapped_by_an_app_is_still_not_started() -> None:
    ex = make()

    @ex.case("in a task group")
    def _(ns: Any) -> None:
        try:
            ns["f"]()
        except NotImplementedError as error:
            raise BaseExceptionGroup("unhandled errors in a TaskGroup", [error]) from None

    @ex.case("re-raised by a framework")
    def _(ns: Any) -> None:
        try:
            ns["f"]()
        except NotImplementedError as error:
            raise RuntimeError("Exception in ASGI application") from error

    def stub() -> None:
        raise NotImplementedError()

    statuses = [case.status for case in run_exercise(ex, {"f": stub}).cases]
    assert statuses == [Status.NOT_STARTED, Status.NOT_STARTED]


def test_a_missing_name_is_not_started_with_a_plain_reason() -> None:
    ex = make(needs=("f", "g"))

    @ex.case("anything")
    def _(ns: Any) -> None:
        raise AssertionError("never runs")

    (case,) = run_exercise(ex, {"f": 1}).cases
    assert case.status is Status.NOT_STARTED
    assert case.message == "`g` is not defined yet: run the exercise's code cell first"


def test_a_crash_names_the_exception_and_the_learners_line() -> None:
    ex = make()

    @ex.case("f(0)")
    def _(ns: Any) -> None:
        ns["f"](0)

    learner: dict[str, Any] = {}
    source, cell = "def f(x):\n    return 1 / x\n", "/tmp/ipykernel_1/42.py"
    linecache.cache[cell] = (len(source), None, source.splitlines(True), cell)  # as IPython does
    exec(compile(source, cell, "exec"), learner)
    (case,) = run_exercise(ex, learner).cases
    assert case.status is Status.CRASHED
    assert case.message.startswith("ZeroDivisionError: division by zero")
    assert "your line `return 1 / x`" in case.message


def test_async_cases_run_on_their_own_loop() -> None:
    ex = make()

    @ex.case("async f")
    async def _(ns: Any) -> None:
        expect_equal(await ns["f"](), 3, "awaiting f()")

    async def f() -> int:
        return 3

    assert run_exercise(ex, {"f": f}).status is Status.PASSED


def test_a_stuck_case_is_reported_and_does_not_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "CASE_TIMEOUT_SECONDS", 0.2)
    ex = make()

    @ex.case("f returns")
    def _(ns: Any) -> None:
        ns["f"]()

    def f() -> None:
        import time

        time.sleep(2)

    (case,) = run_exercise(ex, {"f": f}).cases
    assert case.status is Status.CRASHED and "did not finish within 0.2 s" in case.message


def test_partial_credit_and_exercise_status() -> None:
    ex = make(points=3)
    for n in range(3):

        @ex.case(f"case {n}")
        def _(ns: Any, n: int = n) -> None:
            expect(ns["f"](n), f"f({n})", "True", "False")

    result = run_exercise(ex, {"f": lambda n: n != 2})
    assert result.passed == 2 and result.score == 2 and result.status is Status.FAILED


def test_registering_an_id_twice_is_an_error() -> None:
    make("97.1")
    with pytest.raises(ValueError, match="registered twice"):
        make("97.1")


def test_check_reads_the_callers_globals_and_renders_text_and_html() -> None:
    ex = make()

    @ex.case("f(1) is 2 <b>")
    def _(ns: Any) -> None:
        expect_equal(ns["f"](1), 2, "calling f(1)")

    namespace: dict[str, Any] = {"f": lambda x: x + 1, "check": check}
    report = eval('check("97.1")', namespace)  # as a notebook cell would call it
    assert report.all_passed and report.score == 2
    assert report.text() == "97.1 Exercise 97.1 — 2/2 points\n  ✅ f(1) is 2 <b>"
    assert "✅ f(1) is 2 &lt;b&gt;" in report._repr_html_()
    assert repr(report) == str(report) == report.text()


def test_check_shows_every_status_icon() -> None:
    ex = make(needs=())
    outcomes: list[Any] = [
        None,
        CheckFailed("doing it", "yes", "no"),
        NotImplementedError(),
        KeyError("k"),
    ]
    for index, outcome in enumerate(outcomes):

        @ex.case(f"case {index}")
        def _(ns: Any, outcome: Any = outcome) -> None:
            if outcome is not None:
                raise outcome

    text = check("97.1", {}).text()
    for icon in ("✅", "❌", "⏳", "💥"):
        assert icon in text
    assert "❌ case 1 — doing it: expected yes, but got no" in text


def test_check_never_raises_by_default_and_raises_in_strict_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ex = make()

    @ex.case("f works")
    def _(ns: Any) -> None:
        ns["f"]()

    def stub() -> None:
        raise NotImplementedError()

    assert not check("97.1", {"f": stub}).all_passed
    assert "no exercise '97.9'" in check("97.9", {}).text()
    monkeypatch.setenv(STRICT_ENV_VAR, "1")
    with pytest.raises(AssertionError, match="not every case passed"):
        check("97.1", {"f": stub})
    with pytest.raises(AssertionError):
        check("97.9", {})
    assert check("97.1", {"f": lambda: None}).all_passed


def test_check_all_runs_a_chapter_in_order_with_a_total() -> None:
    for id in ("97.10", "97.2"):
        ex = make(id, points=1)

        @ex.case("f is there")
        def _(ns: Any) -> None:
            pass

    report = check_all("97", {"f": 1})
    assert [result.exercise.id for result in report.results] == ["97.2", "97.10"]
    assert report.text().endswith("Total: 2/2 points")
    assert "Total: 2/2 points" in report._repr_html_()
    assert "has no exercises" in check_all("96", {}).text()


def test_hints_are_revealed_one_at_a_time() -> None:
    make(hints=("first", "second"))
    assert hint("97.1") == "Hint 1/2 for 97.1: first"
    assert hint("97.1") == "Hint 2/2 for 97.1 (that was the last hint): second"
    assert hint("97.1") == "Hint 2/2 for 97.1 (that was the last hint): second"
    assert repr(hint("97.1")).startswith("Hint 2/2")  # shown without quotes
    make("97.2")
    assert hint("97.2") == "Exercise 97.2 has no hints."
    assert "no exercise" in hint("97.8")


def test_refusals_count_only_once_the_positive_cases_pass() -> None:
    ex = make(points=2)

    @ex.case("accepts the right input", positive=True)
    def _(ns: Any) -> None:
        expect(ns["f"]("good") is True, "calling f('good')", "True", ns["f"]("good"))

    @ex.case("refuses the wrong input")
    def _(ns: Any) -> None:
        expect(ns["f"]("bad") is False, "calling f('bad')", "False", ns["f"]("bad"))

    refuses_everything = run_exercise(ex, {"f": lambda value: False})
    assert refuses_everything.score == 0
    refusal = refuses_everything.cases[1]
    assert refusal.status is Status.FAILED
    assert refusal.message.startswith("not counted until “accepts the right input” passes")

    correct = run_exercise(ex, {"f": lambda value: value == "good"})
    assert correct.score == 2
    accepts_everything = run_exercise(ex, {"f": lambda value: True})
    assert accepts_everything.score == 1
    assert accepts_everything.cases[1].status is Status.FAILED
