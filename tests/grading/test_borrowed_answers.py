"""Answers that cannot be borrowed (issue 25): a learner object that is, wraps or calls the
course's own answer to an exercise scores 0 on it, with a note that says why.

The submissions are the ones reported: importing the reference ``rotate_refresh`` (03.3),
delegating to ``generate_api_key``/``rotate_api_key`` (04.1/04.5), and forging 03.2's token
with a helper imported from ``authcourse.checks.ch03``. They run through ``run_exercise``
(what the grader's agent and ``check()`` both call), in process: nothing of the learner's is
called, so these take milliseconds.
"""

from __future__ import annotations

from typing import Any

import pytest

from authcourse.checks import borrowing, registry, runner
from authcourse.checks.runner import Status


def cells(*sources: str) -> dict[str, Any]:
    """A learner's namespace: the sources run as notebook cells (module ``__main__``)."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for number, source in enumerate(sources):
        exec(compile(source, f"<ipython-input-{number}-test>", "exec"), namespace)
    return namespace


BORROWED = {
    "03.3 imports the reference": (
        "03.3",
        cells("from clouddocs.refresh_tokens import rotate_refresh"),
        "is clouddocs.refresh_tokens.rotate_refresh",
    ),
    "03.3 wraps the reference": (
        "03.3",
        cells(
            "from clouddocs import refresh_tokens as rt",
            "async def rotate_refresh(*args, **kwargs):\n"
            "    return await rt.rotate_refresh(*args, **kwargs)",
        ),
        "calls clouddocs.refresh_tokens.rotate_refresh",
    ),
    "04.1 delegates to generate_api_key": (
        "04.1",
        cells(
            "from clouddocs.apikeys import generate_api_key, key_checksum",
            "def generate_key(environment):\n    return generate_api_key(environment)",
            "def has_valid_checksum(key):\n    return key_checksum(key[:-6]) == key[-6:]",
        ),
        "`generate_key` calls clouddocs.apikeys.generate_api_key",
    ),
    "04.5 delegates through a helper": (
        "04.5",
        cells(
            "import clouddocs.apikeys",
            "async def _successor(session, key_id, clock, overlap):\n"
            "    return await clouddocs.apikeys.rotate_api_key(session, key_id, clock=clock)",
            "async def rotate_key(session, key_id, clock, overlap):\n"
            "    return await _successor(session, key_id, clock, overlap)",
        ),
        "`rotate_key` calls clouddocs.apikeys.rotate_api_key",
    ),
    "03.2 forges with the checks' private helper": (
        "03.2",
        cells(
            "from authcourse.checks.ch03 import hand_made, hmac_with",
            "def forge_with_public_key(public_pem):\n"
            "    return hand_made({'alg': 'HS256'}, {'sub': 'x'}, hmac_with(public_pem))",
            "def verify_rs256_token(token, public_pem):\n    raise ValueError('no')",
        ),
        "`forge_with_public_key` calls authcourse.checks.ch03_support.h",  # hand_made/hmac_with
    ),
    "03.3 same code object": (
        "03.3",
        cells(
            "import types\nfrom clouddocs import refresh_tokens\n"
            "rotate_refresh = types.FunctionType(refresh_tokens.rotate_refresh.__code__, {})",
        ),
        "runs the code of clouddocs.refresh_tokens.rotate_refresh",
    ),
}


@pytest.mark.parametrize("name", BORROWED)
def test_a_borrowed_answer_scores_zero_with_a_note(name: str) -> None:
    exercise_id, namespace, said = BORROWED[name]
    exercise = registry.get_exercise(exercise_id)
    result = runner.run_exercise(exercise, namespace)
    assert result.score == 0
    assert {case.status for case in result.cases} == {Status.FAILED}
    assert all(said in case.message and "scored 0" in case.message for case in result.cases)
    # The grader rebuilds the result from the agent's dict: the zero survives the trip.
    assert runner.ExerciseResult.from_dict(result.as_dict(), exercise).score == 0


def test_own_code_that_uses_what_the_lab_provides_is_not_borrowing() -> None:
    # 04.1's lab hands out key_checksum; using it is the exercise, not borrowing.
    namespace = cells(
        "import secrets\nfrom clouddocs.apikeys import BASE62_ALPHABET, key_checksum",
        "def generate_key(environment):\n"
        "    body = ''.join(secrets.choice(BASE62_ALPHABET) for _ in range(30))\n"
        "    return f'cd_{environment}_' + body + key_checksum(body)",
        "def has_valid_checksum(key):\n    return key_checksum(key[:-6]) == key[-6:]",
    )
    assert borrowing.borrowed(registry.get_exercise("04.1"), namespace) == []


def test_every_declared_answer_can_be_imported() -> None:
    declared = [ex for ex in registry.all_exercises() if ex.answered_by]
    assert len(declared) >= 25
    for exercise in declared:
        for reference in exercise.answered_by:
            assert borrowing.resolve(reference) is not None


def test_the_declaration_is_optional() -> None:
    exercise = registry.Exercise("98.1", "undeclared", 1, ("f",))
    assert borrowing.borrowed(exercise, {"f": print}) == []


def test_following_readme_is_not_tampering() -> None:
    # False accusations reported in issue 25: README's import, and a local named `check`.
    from authcourse.grading import scan

    assert scan.findings("from authcourse.checks import check, check_all, hint") == []
    assert scan.findings("from authcourse.checks import (\n    check,\n    hint,\n)") == []
    local = "def verify(a, b):\n    check = a == b\n    return check\n"
    assert scan.findings(local) == []
    assert scan.findings("class Guard:\n    def check(self):\n        return True\n") == []
    # Still seen: rebinding the front end itself, and reaching past it.
    assert scan.findings("check = lambda *a: None") == ["redefines `check`"]
    assert "uses authcourse.checks internals" in scan.findings(
        "from authcourse.checks import check, runner"
    )
