"""The lab must not hand out its own answers (issue 11): no name the lab's cells import may
be one of the reference implementations an exercise asks the learner to write."""

import pytest
from lab_support import lab_namespace

from clouddocs import accounts, csrf, lockout, password_policy, passwords, sessions

SLUG = "02_passwords_sessions"

#: Reference code that answers an exercise (or most of one) if the lab put it in reach.
ANSWERS = {
    "02.1": [passwords.PasswordHasher],
    "02.2": [password_policy.PasswordPolicy],
    "02.3": [sessions.SessionManager, sessions.new_session_id],
    "02.4": [csrf.csrf_token_for, csrf.CsrfProtection],
    "02.5": [lockout.AccountLockout],
    "02.6": [accounts.authenticate],
}


@pytest.mark.parametrize("exercise_id", sorted(ANSWERS))
def test_the_lab_does_not_import_the_answer(exercise_id: str) -> None:
    namespace = lab_namespace(SLUG)
    handed_out = [
        name
        for name, value in namespace.items()
        if any(value is answer for answer in ANSWERS[exercise_id])
    ]
    assert handed_out == [], f"the lab's own cells provide {handed_out}, which answer {exercise_id}"
