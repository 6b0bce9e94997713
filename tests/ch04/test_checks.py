"""The chapter 4 checks reject the unfinished stub and every known-wrong implementation,
and accept the solution notebook's code.
"""

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import Request

from authcourse import notebooks
from authcourse.checks.core import Status, chapter_exercises, get_exercise, run_exercise

from . import wrong

SOLUTION = Path(__file__).resolve().parents[2] / "solutions" / "04_api_keys.ipynb"


def _stub(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError()


async def _async_stub(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError()


def _read_api_key_stub(request: Request) -> str:
    # The lab's stub keeps the signature, so FastAPI calls it and it raises.
    raise NotImplementedError()


class _StubReceiver:
    def __init__(self, *args: Any) -> None:
        raise NotImplementedError()


STUBS: dict[str, dict[str, Any]] = {
    "04.1": {"generate_key": _stub, "has_valid_checksum": _stub},
    "04.2": {"store_new_key": _async_stub, "verify_key": _async_stub},
    "04.3": {"read_api_key": _read_api_key_stub},
    "04.4": {"require_scope": _stub},
    "04.5": {"rotate_key": _async_stub},
    "04.6": {"limit_per_key": _stub},
    "04.7": {"sign_webhook": _stub, "WebhookReceiver": _StubReceiver},
}

_solution_cache: dict[str, Any] = {}


def _solution_namespace() -> dict[str, Any]:
    """Run the solution notebook's setup cell and exercise cells (not its demos)."""
    if not _solution_cache:
        code_cells = [c for c in notebooks.read(SOLUTION).cells if c.cell_type == "code"]
        chosen = [code_cells[0], *(c for c in code_cells if "### BEGIN SOLUTION" in c.source)]
        for cell in chosen:
            exec(compile(cell.source, f"<solution {SOLUTION.name}>", "exec"), _solution_cache)
    return dict(_solution_cache)


# (exercise, the wrong entries (the rest comes from the solution), the case that must catch it)
KNOWN_WRONG: list[tuple[str, dict[str, Any], str]] = [
    ("04.1", {"generate_key": wrong.generate_with_random}, "keys come from `secrets`"),
    ("04.1", {"generate_key": wrong.generate_hex_body}, "keys come from `secrets`"),
    ("04.1", {"generate_key": wrong.generate_short_body}, "a key is cdk_live_/cdk_test_"),
    ("04.1", {"generate_key": wrong.generate_without_checksum}, "the checksum is CRC32"),
    ("04.1", {"has_valid_checksum": wrong.checksum_prefix_only}, "has_valid_checksum accepts"),
    (
        "04.2",
        {"store_new_key": wrong.store_plaintext, "verify_key": wrong.verify_plaintext},
        "the database holds the SHA-256 digest",
    ),
    (
        "04.2",
        {"store_new_key": wrong.store_argon2, "verify_key": wrong.verify_argon2_every_row},
        "the database holds the SHA-256 digest",
    ),
    ("04.2", {"store_new_key": wrong.store_without_expiry}, "expired and revoked keys"),
    ("04.2", {"verify_key": wrong.verify_ignoring_expiry}, "expired and revoked keys"),
    ("04.2", {"verify_key": wrong.verify_without_last_used}, "a stored key verifies"),
    ("04.3", {"read_api_key": wrong.read_key_from_query_too}, "?api_key= is refused"),
    ("04.3", {"read_api_key": wrong.refuse_only_api_key_name}, "a key under any parameter"),
    ("04.3", {"read_api_key": wrong.bare_401_without_challenge}, "no key, or another scheme"),
    ("04.3", {"read_api_key": wrong.accept_any_scheme}, "no key, or another scheme"),
    ("04.4", {"require_scope": wrong.scope_401_when_missing}, "a key without the scope"),
    ("04.4", {"require_scope": wrong.scope_403_without_naming}, "a key without the scope"),
    ("04.4", {"require_scope": wrong.scope_substring_match}, "scopes match exactly"),
    ("04.5", {"rotate_key": wrong.rotate_revoking_old_at_once}, "both keys work"),
    ("04.5", {"rotate_key": wrong.rotate_without_expiring_old}, "after the overlap"),
    ("04.5", {"rotate_key": wrong.rotate_with_default_scopes}, "the successor has the same"),
    ("04.5", {"rotate_key": wrong.rotate_extending_expiry}, "a key that expires before"),
    ("04.5", {"rotate_key": wrong.rotate_revoked_too}, "a revoked key cannot be rotated"),
    ("04.6", {"limit_per_key": wrong.limit_per_ip}, "each key has its own budget"),
    ("04.6", {"limit_per_key": wrong.limit_per_key_and_ip}, "one key shares its budget"),
    ("04.6", {"limit_per_key": wrong.limit_by_plaintext_key}, "the limiter counts key ids"),
    ("04.6", {"limit_per_key": wrong.limit_without_headers}, "responses carry RateLimit"),
    ("04.6", {"limit_per_key": wrong.limit_on_the_event_loop}, "limiter.hit runs off the event"),
    ("04.7", {"sign_webhook": wrong.sign_body_only}, "sign_webhook produces"),
    ("04.7", {"WebhookReceiver": wrong.ReceiverWithoutWindow}, "deliveries outside the 5-minute"),
    ("04.7", {"WebhookReceiver": wrong.ReceiverWithoutReplayMemory}, "a replayed delivery"),
    ("04.7", {"WebhookReceiver": wrong.ReceiverWithEquals}, "signatures are compared in constant"),
    ("04.7", {"WebhookReceiver": wrong.ReceiverThatNeverForgets}, "the replay memory forgets"),
]


def _wrong_name(entries: dict[str, Any]) -> str:
    return "+".join(value.__name__ for value in entries.values())


@pytest.mark.parametrize("exercise_id", sorted(STUBS))
def test_the_stub_is_not_started_in_every_case(exercise_id: str) -> None:
    result = run_exercise(get_exercise(exercise_id), STUBS[exercise_id])
    statuses = {case.description: case.status for case in result.cases}
    assert set(statuses.values()) == {Status.NOT_STARTED}, statuses


@pytest.mark.parametrize(
    ("exercise_id", "entries", "catching_case"),
    KNOWN_WRONG,
    ids=[f"{exercise_id}-{_wrong_name(entries)}" for exercise_id, entries, _ in KNOWN_WRONG],
)
def test_every_known_wrong_implementation_fails_its_case(
    exercise_id: str, entries: dict[str, Any], catching_case: str
) -> None:
    namespace = {**_solution_namespace(), **entries}
    result = run_exercise(get_exercise(exercise_id), namespace)
    caught = [case for case in result.cases if case.description.startswith(catching_case)]
    assert len(caught) == 1, f"no single case starts with {catching_case!r}"
    assert caught[0].status is Status.FAILED, (caught[0].status, caught[0].message)
    assert " expected " in caught[0].message, "a failure says what was tried and expected"


@pytest.mark.parametrize("exercise_id", sorted(STUBS))
def test_the_solution_notebook_passes_every_case_within_a_second(exercise_id: str) -> None:
    namespace = _solution_namespace()
    start = time.perf_counter()
    result = run_exercise(get_exercise(exercise_id), namespace)
    elapsed = time.perf_counter() - start
    failures = [
        (c.description, c.status, c.message) for c in result.cases if c.status is not Status.PASSED
    ]
    assert failures == []
    assert elapsed < 1.0, f"check('{exercise_id}') took {elapsed:.2f} s (budget: 1 s)"


def test_stubs_cover_every_registered_exercise() -> None:
    assert sorted(STUBS) == [exercise.id for exercise in chapter_exercises("04")]


def test_every_known_wrong_implementation_is_tested() -> None:
    tested = {value.__name__ for _, entries, _ in KNOWN_WRONG for value in entries.values()}
    public = {
        name
        for name, value in vars(wrong).items()
        if callable(value)
        and getattr(value, "__module__", "") == wrong.__name__
        and not name.startswith("_")
    }
    assert public <= tested, sorted(public - tested)
