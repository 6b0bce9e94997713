"""Chapter 6's exercises and the known-wrong implementations their checks must reject."""

from typing import Any

from . import wrong

SLUG = "06_openid_connect"
EXERCISES = ["06.1", "06.2", "06.3", "06.4", "06.5"]

V = "validate_id_token"
# (exercise, the wrong entries (the rest comes from the solution), the case that must catch it)
KNOWN_WRONG: list[tuple[str, dict[str, Any], str]] = [
    ("06.1", {V: wrong.validate_aud_equals}, "several audiences are accepted"),
    ("06.1", {V: wrong.validate_aud_substring}, "a token for another client"),
    ("06.1", {V: wrong.validate_ignores_azp}, "several audiences without azp"),
    ("06.1", {V: wrong.validate_no_iss_check}, "a token from another issuer"),
    ("06.1", {V: wrong.validate_unbounded_leeway}, "a token expired beyond the leeway"),
    ("06.1", {V: wrong.validate_zero_leeway}, "a token 30 s past exp"),
    ("06.1", {V: wrong.validate_no_iat_check}, "a token issued in the future"),
    ("06.1", {V: wrong.validate_no_nonce_check}, "a token with another nonce"),
    ("06.1", {V: wrong.validate_nonce_only_if_present}, "a token with another nonce"),
    ("06.1", {V: wrong.validate_ignores_at_hash}, "a token whose at_hash"),
    ("06.1", {V: wrong.validate_trusts_header_alg}, "alg none, HS256"),
    ("06.1", {V: wrong.validate_skips_signature}, "alg none, HS256"),
    ("06.1", {V: wrong.validate_lets_errors_escape}, "garbage is refused"),
    ("06.1", {V: wrong.validate_refusing_everything}, "a valid ID token"),
    ("06.2", {"JwksCache": wrong.CacheRefetchingEveryUnknownKid}, "unknown kids in a row"),
    ("06.2", {"JwksCache": wrong.CacheWithoutLock}, "20 concurrent lookups"),
    ("06.2", {"JwksCache": wrong.CacheReturningNone}, "an unknown kid is refused"),
    ("06.2", {"JwksCache": wrong.CacheDownloadingOnce}, "after the interval"),
    ("06.2", {"JwksCache": wrong.CacheCountingRefusedAttempts}, "after the interval"),
    ("06.3", {"provision": wrong.provision_by_email}, "another provider's account"),
    ("06.3", {"provision": wrong.provision_linking_unverified}, "an unverified email of an"),
    ("06.3", {"provision": wrong.provision_storing_unverified_email}, "an unverified email is not"),
    ("06.3", {"provision": wrong.provision_racing}, "two first sign-ins"),
    ("06.4", {"role_for_groups": wrong.role_first_match}, "the most privileged role"),
    ("06.4", {"role_for_groups": wrong.role_by_substring}, "group names match exactly"),
    ("06.4", {"role_for_groups": wrong.role_trusting_mapping}, "group names match exactly"),
    ("06.5", {"mix_up_url": wrong.mix_up_keeping_client_id}, "your mix-up URL"),
    ("06.5", {"check_authorization_response": wrong.check_response_ignoring_iss},
     "a response naming another issuer"),
    ("06.5", {"check_authorization_response": wrong.check_response_accepting_missing_iss},
     "a response without iss"),
    ("06.5", {"check_authorization_response": wrong.check_response_without_state},
     "a wrong or missing state"),
    ("06.5", {"check_authorization_response": wrong.check_response_ignoring_error},
     "an error response"),
    ("06.5", {"check_authorization_response": wrong.check_response_refusing_everything},
     "a genuine authorization response"),
]
