"""The nbval sanitizer masks every kind of run-to-run variable value, and nothing else."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

SANITIZER = Path(__file__).with_name("nbval_sanitize.cfg")


def sanitize(text: str) -> str:
    # Apply the sections in file order, exactly as nbval does.
    config = configparser.ConfigParser(interpolation=None)
    config.read(SANITIZER)
    for section in config.sections():
        text = re.sub(config[section]["regex"], config[section]["replace"], text)
    return text


@pytest.mark.parametrize(
    ("sample", "masked"),
    [
        (
            "token: eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiJ9.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "token: <JWT>",
        ),
        (
            "$argon2id$v=19$m=8,t=1,p=1$dpKx951q6JruWsHxj4OmYg$z2/j/NMDnH1RjhzMCTZWXmGsclhZN0FH1ZD6OCrMRN0",
            "<ARGON2-HASH>",
        ),
        ("$2b$04$j1HJZjVGKQWlhC/AHu9H5Odw8GjEdycUxRV9zF3g5LY4kgHvVIcxG", "<BCRYPT-HASH>"),
        ("key cdk_live_4fQ2x9ZpL0aB7cD3eF6gH1iJ_k8 shown once", "key <CDK-KEY> shown once"),
        ("hint cdk_live_…Ab3x for display", "hint <CDK-KEY-HINT> for display"),
        ("id 123e4567-e89b-12d3-a456-426614174000", "id <UUID>"),
        ("at 2026-01-05T09:15:00+00:00.", "at <TIMESTAMP>."),
        ("at 2026-01-05 09:15:00.123456", "at <TIMESTAMP>"),
        ("digest 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "digest <HEX>"),
        ("session id Qm9yZWQ_b2Y-dGhpcyB0b2tlbj8xMjM0NQ", "session id <TOKEN>"),
        ('{"exp": 1767604500, "iat": 1767603600.5}', '{"exp": <EPOCH>, "iat": <EPOCH>}'),
        ("serving on https://127.0.0.1:53817/", "serving on https://127.0.0.1:<PORT>/"),
        ("http://localhost:8000", "http://localhost:<PORT>"),
    ],
)
def test_masks_variable_values(sample: str, masked: str) -> None:
    assert sanitize(sample) == masked


@pytest.mark.parametrize(
    "stable",
    [
        "HTTP/1.1 401 Unauthorized",
        'www-authenticate: Bearer error="invalid_token"',
        "content-type: application/x-www-form-urlencoded",
        "grant_type=authorization_code",
        "status 429, retry-after: 60",
        "argon2id m=19456 t=2 p=1",
        "GET /documents/42",
    ],
)
def test_leaves_stable_text_alone(stable: str) -> None:
    assert sanitize(stable) == stable
