"""Chapter 4's exercises and the known-wrong implementations their checks must reject.

One shape for every chapter, read by ``tests/test_check_contract.py``: ``KNOWN_WRONG`` lists
(exercise, the names swapped into the solution's namespace, the start of the case that must
fail because of that mistake).
"""

from typing import Any

from . import wrong

SLUG = "04_api_keys"
EXERCISES = ["04.1", "04.2", "04.3", "04.4", "04.5", "04.6", "04.7"]

# (exercise, the wrong entries (the rest comes from the solution), the case that must catch it)
KNOWN_WRONG: list[tuple[str, dict[str, Any], str]] = [
    ("04.1", {"generate_key": wrong.generate_with_random}, "keys come from `secrets`"),
    ("04.1", {"generate_key": wrong.generate_hex_body}, "keys come from `secrets`"),
    ("04.1", {"generate_key": wrong.generate_short_body}, "a key is cdk_live_/cdk_test_"),
    ("04.1", {"generate_key": wrong.generate_without_checksum}, "the checksum is CRC32"),
    ("04.1", {"has_valid_checksum": wrong.checksum_prefix_only}, "has_valid_checksum refuses"),
    (
        "04.1",
        {"has_valid_checksum": wrong.checksum_refusing_everything},
        "has_valid_checksum accepts",
    ),
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
    ("04.2", {"verify_key": wrong.verify_refusing_everything}, "a stored key verifies"),
    ("04.2", {"verify_key": wrong.verify_matching_digest_too}, "unknown, malformed and garbage"),
    ("04.2", {"verify_key": wrong.verify_by_hint}, "unknown, malformed and garbage"),
    ("04.3", {"read_api_key": wrong.read_key_refusing_everything}, "a key in the Authorization"),
    ("04.3", {"read_api_key": wrong.read_key_from_query_too}, "?api_key= is refused"),
    ("04.3", {"read_api_key": wrong.refuse_only_api_key_name}, "a key under any parameter"),
    ("04.3", {"read_api_key": wrong.bare_401_without_challenge}, "no key, or another scheme"),
    ("04.3", {"read_api_key": wrong.accept_any_scheme}, "no key, or another scheme"),
    ("04.4", {"require_scope": wrong.scope_401_when_missing}, "a key without the scope"),
    ("04.4", {"require_scope": wrong.scope_403_without_naming}, "a key without the scope"),
    ("04.4", {"require_scope": wrong.scope_substring_match}, "scopes match exactly"),
    ("04.4", {"require_scope": wrong.scope_checked_before_the_key}, "no key is still a 401"),
    ("04.5", {"rotate_key": wrong.rotate_revoking_old_at_once}, "both keys work"),
    ("04.5", {"rotate_key": wrong.rotate_without_expiring_old}, "after the overlap"),
    ("04.5", {"rotate_key": wrong.rotate_with_default_scopes}, "the successor has the same"),
    ("04.5", {"rotate_key": wrong.rotate_extending_expiry}, "a key that expires before"),
    ("04.5", {"rotate_key": wrong.rotate_revoked_too}, "a revoked key cannot be rotated"),
    ("04.5", {"rotate_key": wrong.rotate_refusing_everything}, "both keys work"),
    ("04.5", {"rotate_key": wrong.rotate_read_then_write}, "two rotations of one key"),
    ("04.6", {"limit_per_key": wrong.limit_per_ip}, "each key has its own budget"),
    ("04.6", {"limit_per_key": wrong.limit_per_key_and_ip}, "one key shares its budget"),
    ("04.6", {"limit_per_key": wrong.limit_by_plaintext_key}, "the limiter counts key ids"),
    ("04.6", {"limit_per_key": wrong.limit_without_headers}, "responses carry RateLimit"),
    ("04.6", {"limit_per_key": wrong.limit_refusing_everything}, "requests within the budget"),
    ("04.7", {"sign_webhook": wrong.sign_body_only}, "sign_webhook produces"),
    ("04.7", {"WebhookReceiver": wrong.ReceiverWithoutWindow}, "deliveries outside the 5-minute"),
    ("04.7", {"WebhookReceiver": wrong.ReceiverWithoutReplayMemory}, "a replayed delivery"),
    ("04.7", {"WebhookReceiver": wrong.ReceiverWithEquals}, "the comparison that decides"),
    ("04.7", {"WebhookReceiver": wrong.ReceiverWithDecoyCompare}, "the comparison that decides"),
    ("04.7", {"WebhookReceiver": wrong.ReceiverRefusingEverything}, "a fresh, genuine delivery"),
    (
        "04.7",
        {"WebhookReceiver": wrong.ReceiverDefaultingMissingTimestamp},
        "forged, tampered and malformed",
    ),
    (
        "04.7",
        {"WebhookReceiver": wrong.ReceiverRaisingOnMalformed},
        "forged, tampered and malformed",
    ),
    ("04.7", {"WebhookReceiver": wrong.ReceiverThatNeverForgets}, "the replay memory forgets"),
    (
        "04.7",
        {"WebhookReceiver": wrong.ReceiverKeyedOnTimestampAndBody},
        "the same event sent twice",
    ),
]
