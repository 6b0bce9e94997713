"""The solution notebook's names as attributes of this module, for ``wrong.py`` to build on
(``correct.hash_password``, ``class EagerLockout(correct.Lockout)``…).

They are the very objects :func:`lab_support.solution_namespace` gives the tests (the notebook
runs once per process), so a known-wrong subclass extends the solution's own class.
"""

from lab_support import solution_namespace

SLUG = "02_passwords_sessions"
NAMESPACE = solution_namespace(SLUG)
globals().update({name: value for name, value in NAMESPACE.items() if not name.startswith("__")})
