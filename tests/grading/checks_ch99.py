"""Checks of the fixture chapter "99", used only by the grader's tests.

Loaded through ``AUTHCOURSE_CHECK_MODULES`` (test-only), in the test process and in every
kernel the grader starts. Shaped like a real ``authcourse/checks/chNN.py``.
"""

from __future__ import annotations

import asyncio
import inspect

from authcourse.checks import exercise, expect, expect_equal

add = exercise(
    "99.1",
    "Add two numbers",
    points=2,
    needs=("add",),
    hints=("Python has an operator for that.", "return a + b"),
)


@add.case("2 + 3 is 5")
def _(ns):
    expect_equal(ns["add"](2, 3), 5, "adding 2 and 3")


@add.case("-1 + 1 is 0")
def _(ns):
    expect_equal(ns["add"](-1, 1), 0, "adding -1 and 1")


greet = exercise(
    "99.2",
    "Greet asynchronously",
    points=1,
    needs=("greet",),
    hints=("It is an `async def`.",),
)


@greet.case("greet('Ada') says hello to Ada")
async def _(ns):
    outcome = ns["greet"]("Ada")
    expect(inspect.isawaitable(outcome), "calling greet('Ada')", "a coroutine", outcome)
    text = await asyncio.wait_for(outcome, 1)
    expect_equal(text, "Hello, Ada!", "awaiting greet('Ada')")


secret = exercise(
    "99.3",
    "Compare secrets",
    points=2,
    needs=("same_secret",),
    hints=("Look at the hmac module.", "hmac.compare_digest(a, b)"),
)


@secret.case("equal secrets match")
def _(ns):
    expect(
        ns["same_secret"](b"k3y", b"k3y") is True,
        "comparing b'k3y' with itself",
        "True",
        "something else",
    )


@secret.case("different secrets do not match")
def _(ns):
    result = ns["same_secret"](b"k3y", b"key")
    expect(result is False, "comparing b'k3y' with b'key'", "False", result)
