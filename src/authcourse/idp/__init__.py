"""An in-process OAuth 2.0 / OpenID Connect provider, built on Authlib's server core.

The offline stand-in for Google or an enterprise IdP that the OAuth and OpenID Connect
chapters log in against::

    idp = IdentityProvider(issuer="https://idp.test")
    idp.add_user("alice", "correct horse battery staple", email="alice@example.com")
    idp.add_client("clouddocs-web", secret="...", redirect_uris=["https://clouddocs.test/auth/callback"])
"""

from authcourse.idp.models import Client, User
from authcourse.idp.provider import IdentityProvider
from authcourse.idp.serve import serve
from authcourse.idp.sign_in import LoginForm, parse_login_form, sign_in, submit_form

__all__ = [
    "Client",
    "IdentityProvider",
    "LoginForm",
    "User",
    "parse_login_form",
    "serve",
    "sign_in",
    "submit_form",
]
