"""An in-process OAuth 2.0 / OpenID Connect provider, built on Authlib's server core.

The offline stand-in for Google or an enterprise IdP that the OAuth and OpenID Connect
chapters log in against::

    idp = IdentityProvider(issuer="https://idp.test")
    idp.add_user("alice", "correct horse battery staple", email="alice@example.com")
    idp.add_resource_server("https://api.clouddocs.test", client_id="docs-api", secret="...")
    idp.add_client("clouddocs-web", secret="...", redirect_uris=["https://clouddocs.test/auth/callback"],
                   resources=["https://api.clouddocs.test"])

Access tokens are 10-minute RS256 JWTs addressed (``aud``) to one resource server, or
opaque strings checked at /introspect. The trade-off of JWTs: revoking a grant cannot
recall a JWT access token already issued; it verifies offline until its ``exp``. See
``IdentityProvider`` for everything the provider promises, and ``sign_in`` to drive its
sign-in and consent pages from code.
"""

from authcourse.idp.models import Client, User
from authcourse.idp.provider import IdentityProvider
from authcourse.idp.serve import serve
from authcourse.idp.sign_in import LoginForm, parse_login_form, sign_in, submit_form
from authcourse.idp.store import ResourceServer

__all__ = [
    "Client",
    "IdentityProvider",
    "LoginForm",
    "ResourceServer",
    "User",
    "parse_login_form",
    "serve",
    "sign_in",
    "submit_form",
]
