"""clouddocs.decisions: every row of the "which method for what" table, and combinations not in it."""

import pytest

from clouddocs.decisions import (
    AUTHENTICATION_MATRIX,
    AUTHORIZATION_MATRIX,
    Actor,
    Client,
    IdentitySource,
    Method,
    Model,
    Requirements,
    Sharing,
    recommend,
)

PEOPLE = frozenset({Actor.PEOPLE})

# (scenario, requirements as features, authentication, authorization, a note that must appear)
TABLE = [
    ("blog with admin panel", Requirements(), {Method.PASSWORD, Method.SESSION}, {Model.IS_ADMIN}, None),
    ("SPA with accounts", Requirements(clients=frozenset({Client.SPA}), permission_levels=4),
     {Method.PASSWORD, Method.JWT}, {Model.RBAC}, "SSO"),
    ("mobile app", Requirements(clients=frozenset({Client.MOBILE}), permission_levels=3),
     {Method.OAUTH_PKCE, Method.JWT}, {Model.RBAC}, "no client secret"),
    ("public API", Requirements(actors=frozenset({Actor.PARTNERS, Actor.THIRD_PARTY_APPS}), clients=frozenset()),
     {Method.API_KEYS, Method.OAUTH}, {Model.SCOPES}, "rate limit per key"),
    ("enterprise SaaS", Requirements(clients=frozenset({Client.SPA}), identity_source=IdentitySource.CUSTOMER_IDP,
                                     permission_levels=4, attribute_rules=True),
     {Method.OIDC}, {Model.RBAC, Model.ABAC}, "IdP groups"),
    ("collaboration platform", Requirements(clients=frozenset({Client.SPA}), identity_source=IdentitySource.CUSTOMER_IDP,
                                            password_fallback=True, sharing=Sharing.PER_RESOURCE),
     {Method.OIDC, Method.PASSWORD}, {Model.REBAC}, None),
    ("microservices", Requirements(actors=frozenset({Actor.PEOPLE, Actor.SERVICES}),
                                   identity_source=IdentitySource.GATEWAY),
     {Method.JWT, Method.MTLS}, {Model.SCOPES}, "RS256"),
    ("internal tools", Requirements(identity_source=IdentitySource.CORPORATE_IDP, permission_levels=3),
     {Method.OIDC}, {Model.RBAC}, None),
]


@pytest.mark.parametrize(("scenario", "req", "authn", "authz", "note"), TABLE, ids=[row[0] for row in TABLE])
def test_every_row_of_the_table(scenario: str, req: Requirements, authn: set[Method], authz: set[Model],
                                note: str | None) -> None:
    stack = recommend(req)
    assert set(stack.authentication) == authn, scenario
    assert set(stack.authorization) == authz, scenario
    if note:
        assert any(note in line for line in stack.notes), (scenario, stack.notes)
    # Every part is explained: at least one reason per building block.
    assert len(stack.reasons) >= len(stack.authentication + stack.authorization) - 1
    assert str(stack).startswith("authentication: ")


def test_combinations_not_in_the_table() -> None:
    # A SPA and partners: JWT for people, API keys for scripts, roles and scopes.
    stack = recommend(Requirements(actors=frozenset({Actor.PEOPLE, Actor.PARTNERS}),
                                   clients=frozenset({Client.SPA}), permission_levels=4))
    assert set(stack.authentication) == {Method.PASSWORD, Method.JWT, Method.API_KEYS}
    assert set(stack.authorization) == {Model.RBAC, Model.SCOPES}
    # Mobile wins over SPA when both exist: the mobile app needs PKCE anyway.
    both = recommend(Requirements(clients=frozenset({Client.SPA, Client.MOBILE}), permission_levels=3))
    assert set(both.authentication) == {Method.OAUTH_PKCE, Method.JWT}
    # Per-document sharing with compliance rules: ReBAC plus ABAC.
    shared = recommend(Requirements(sharing=Sharing.PER_RESOURCE, attribute_rules=True))
    assert set(shared.authorization) == {Model.REBAC, Model.ABAC}
    # Two levels but compliance rules: no is_admin shortcut.
    assert Model.IS_ADMIN not in recommend(Requirements(attribute_rules=True)).authorization
    # Services alone (a batch system): mTLS and scopes, no people parts.
    machines = recommend(Requirements(actors=frozenset({Actor.SERVICES}), clients=frozenset()))
    assert machines.authentication == (Method.MTLS,) and machines.authorization == (Model.SCOPES,)


def test_revocation_needs_change_the_notes_not_the_session_stack() -> None:
    spa = recommend(Requirements(clients=frozenset({Client.SPA}), permission_levels=3, instant_revocation=True))
    assert any("denylist" in note for note in spa.notes)
    blog = recommend(Requirements(instant_revocation=True))
    assert not any("denylist" in note for note in blog.notes)  # sessions revoke instantly already


def test_bad_requirements_are_refused_plainly() -> None:
    with pytest.raises(ValueError, match="actor"):
        recommend(Requirements(actors=frozenset()))
    with pytest.raises(ValueError, match="levels"):
        recommend(Requirements(permission_levels=0))


def test_matrices_cover_the_methods_and_models() -> None:
    assert [m.name for m in AUTHENTICATION_MATRIX] == [
        "password + session", "JWT", "API key", "OAuth 2.0", "OpenID Connect", "mTLS"]
    assert [m.name for m in AUTHORIZATION_MATRIX] == ["RBAC", "ABAC", "ReBAC"]
    assert {m.chapter for m in AUTHENTICATION_MATRIX} == {2, 3, 4, 5, 6, 8}
