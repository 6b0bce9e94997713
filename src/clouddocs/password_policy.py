# Generated from notebooks/02_passwords_sessions.ipynb — edit the notebook, not this file.
# Regenerate with `make export`; `make test` fails when this file and the notebook disagree.

"""CloudDocs' password policy, after NIST SP 800-63B rev 4 and OWASP ASVS 5.0 section 6.2.

Length and a blocklist, nothing else: no composition rules ("one digit, one symbol"),
no periodic expiry, no silent truncation. Lengths are counted after Unicode NFKC, the
form the password is hashed in.
"""

import functools
from dataclasses import dataclass, field
from importlib import resources

from clouddocs.passwords import normalize_password

#: NIST SP 800-63B rev 4: at least 15 characters when the password is the only factor.
#: (8 is the floor only for a password used with a second factor: ``min_length=8`` then.)
MIN_PASSWORD_LENGTH = 15
#: Long passphrases are welcome (NIST: allow at least 64); the cap only bounds work per login.
MAX_PASSWORD_LENGTH = 128


@functools.cache
def load_common_passwords() -> frozenset[str]:
    """The course's common-password list (lower case), shipped in ``clouddocs/data``."""
    text = resources.files("clouddocs").joinpath("data/common_passwords.txt").read_text("utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


@dataclass(frozen=True)
class PasswordPolicy:
    """Minimum and maximum length in characters (code points, after NFKC) plus a blocklist."""

    min_length: int = MIN_PASSWORD_LENGTH
    max_length: int = MAX_PASSWORD_LENGTH
    blocklist: frozenset[str] = field(default_factory=load_common_passwords, repr=False)

    def problems(self, password: str, *, context: tuple[str, ...] = ()) -> list[str]:
        """What is wrong with ``password``, in words a user can act on; empty when acceptable.

        ``context`` holds words specific to this account or service (email, name) that
        must not make up the password.
        """
        password = normalize_password(password)  # judge exactly what will be hashed
        found: list[str] = []
        if len(password) < self.min_length:
            found.append(f"use at least {self.min_length} characters")
        if len(password) > self.max_length:
            found.append(f"use at most {self.max_length} characters")
        lowered = password.lower()
        if lowered in self.blocklist:
            found.append("this password is too common; choose another")
        elif any(word and word.lower() in lowered for word in _context_words(context)):
            found.append("do not build the password from your email, name or 'clouddocs'")
        return found


def _context_words(context: tuple[str, ...]) -> list[str]:
    words = ["clouddocs"]
    for item in context:
        local_part = item.split("@", 1)[0]
        words += [part for part in local_part.replace(".", " ").split() if len(part) >= 4]
    return words
