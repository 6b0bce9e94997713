"""Chapter 2's exercises and the known-wrong implementations their checks must reject.

One shape for every chapter, read by ``tests/test_check_contract.py``: ``KNOWN_WRONG`` lists
(exercise, the names swapped into the solution's namespace, the start of the case that must
fail because of that mistake).
"""

from typing import Any

from . import wrong

SLUG = "02_passwords_sessions"
EXERCISES = [f"02.{n}" for n in range(1, 8)]

# (exercise, the wrong entries (the rest comes from the solution), the case that must catch it)
KNOWN_WRONG: list[tuple[str, dict[str, Any], str]] = [
    (
        "02.1",
        {"hash_password": wrong.sha256_hash, "verify_password": wrong.sha256_verify},
        "new hashes are Argon2id at the OWASP parameters (19 MiB, t=2, p=1)",
    ),
    (
        "02.1",
        {"hash_password": wrong.sha256_hash, "verify_password": wrong.sha256_verify},
        "the same password hashed twice gives two different hashes (a salt)",
    ),
    (
        "02.1",
        {"hash_password": wrong.toy_argon2_hash},
        "new hashes are Argon2id at the OWASP parameters (19 MiB, t=2, p=1)",
    ),
    (
        "02.1",
        {"hash_password": wrong.unsalted_argon2_hash},
        "the same password hashed twice gives two different hashes (a salt)",
    ),
    (
        "02.1",
        {"hash_password": wrong.hash_as_typed, "verify_password": wrong.verify_as_typed},
        "a password typed composed or decomposed is one password (NFKC)",
    ),
    (
        "02.1",
        {"needs_rehash": wrong.never_rehash},
        "needs_rehash flags toy parameters, bcrypt and SHA-1, but not a fresh hash",
    ),
    (
        "02.1",
        {"hash_password": wrong.truncating_hash, "verify_password": wrong.truncating_verify},
        "every character counts: no truncation after 72 bytes",
    ),
    (
        "02.2",
        {"password_problems": wrong.composition_rules},
        "no composition rules: lower-case passphrases and digit-free passwords are fine",
    ),
    (
        "02.2",
        {"password_problems": wrong.max_64},
        "long passphrases are accepted up to 128 characters; 129 are refused",
    ),
    (
        "02.2",
        {"password_problems": wrong.case_sensitive_blocklist},
        "common passwords are refused whatever their case",
    ),
    ("02.2", {"password_problems": wrong.min_8}, "15 characters are accepted, 14 are refused"),
    ("02.2", {"password_problems": wrong.no_nfkc}, "lengths are counted after Unicode NFKC"),
    (
        "02.2",
        {"password_problems": wrong.no_email_check},
        "a password built from the email's local part is refused",
    ),
    (
        "02.2",
        {"password_problems": wrong.any_local_part},
        "a local part of 3 characters or fewer does not refuse ordinary passwords",
    ),
    (
        "02.3",
        {"start_session": wrong.reuse_previous_id},
        "login destroys the id the browser brought and issues a new one (no fixation)",
    ),
    (
        "02.3",
        {"start_session": wrong.keep_old_row},
        "login destroys the id the browser brought and issues a new one (no fixation)",
    ),
    (
        "02.3",
        {"start_session": wrong.store_raw_id},
        "only the SHA-256 of the id is stored, with the clock's time",
    ),
    (
        "02.3",
        {"start_session": wrong.short_id},
        "ids carry at least 256 bits and differ every time",
    ),
    (
        "02.4",
        {"csrf_token_for": wrong.static_token, "verify_csrf": wrong.verify_static_token},
        "a token that belongs to another session is refused",
    ),
    (
        "02.4",
        {"verify_csrf": wrong.verify_with_equals},
        "the token is compared in constant time (hmac.compare_digest, not ==)",
    ),
    (
        "02.4",
        {"verify_csrf": wrong.verify_without_origin},
        "a POST from another origin is refused, even with the right token",
    ),
    (
        "02.4",
        {"csrf_token_for": wrong.token_is_session_id},
        "the token is neither the session id nor the same for two sessions",
    ),
    (
        "02.4",
        {"verify_csrf": wrong.verify_skipping_missing_token},
        "a POST without a token is refused with 403",
    ),
    (
        "02.4",
        {"verify_csrf": wrong.verify_refusing_everything},
        "a same-origin POST with this session's token is accepted",
    ),
    ("02.4", {"verify_csrf": wrong.verify_refusing_everything}, "GET requests pass without a token"),
    (
        "02.5",
        {"Lockout": wrong.GlobalCounterLockout},
        "a success on another account does not reset this account's counter",
    ),
    ("02.5", {"Lockout": wrong.WallClockLockout}, "a lock lasts 15 minutes on the clock, then lifts"),
    ("02.5", {"Lockout": wrong.EagerLockout}, "5 attempts are allowed; the 6th"),
    ("02.5", {"Lockout": wrong.ForeverLockout}, "a lock lasts 15 minutes on the clock, then lifts"),
    ("02.5", {"Lockout": wrong.NoWindowLockout}, "attempts older than the 15-minute window"),
    ("02.5", {"Lockout": wrong.NoResetLockout}, "a success resets the account's own counter"),
    ("02.5", {"Lockout": wrong.RawKeyLockout}, "case variants and spaces of one address"),
    ("02.5", {"Lockout": wrong.TwoStepLockout}, "12 parallel attempts let exactly 5 through"),
    (
        "02.6",
        {"authenticate_user": wrong.early_return},
        "an unknown email costs a password verification too (dummy hash)",
    ),
    (
        "02.6",
        {"authenticate_user": wrong.authenticate_refusing_everyone},
        "the right password returns the user, a wrong one None",
    ),
    (
        "02.6",
        {"authenticate_user": wrong.authenticate_raw_email},
        "the email matches whatever its case and surrounding spaces",
    ),
    (
        "02.6",
        {"authenticate_user": wrong.no_rehash},
        "a legacy unsalted SHA-1 hash is accepted once and upgraded",
    ),
    (
        "02.6",
        {"authenticate_user": wrong.no_rehash},
        "a hash made with old parameters is upgraded at a successful login",
    ),
    (
        "02.7",
        {"find_existing_accounts": wrong.attack_by_404},
        "the same attack finds nothing on your fixed app",
    ),
    (
        "02.7",
        {"create_safe_login_app": wrong.leaky_safe_app},
        "wrong password and unknown email get byte-identical 401s with WWW-Authenticate",
    ),
    (
        "02.7",
        {"create_safe_login_app": wrong.no_www_authenticate_app},
        "wrong password and unknown email get byte-identical 401s with WWW-Authenticate",
    ),
    (
        "02.7",
        {"create_safe_login_app": wrong.safe_app_refusing_everyone},
        "the right password still logs in (200)",
    ),
]
