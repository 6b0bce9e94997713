"""The authcourse package's top level: light to import, every advertised name reachable."""

from __future__ import annotations

import subprocess
import sys

import pytest

import authcourse


def test_importing_the_toolkit_loads_no_reference_code() -> None:
    # `python -m authcourse export` must run even while clouddocs is being regenerated.
    probe = (
        "import sys, authcourse.export; print(sorted(m for m in sys.modules if 'clouddocs' in m))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("name", authcourse.__all__)
def test_every_top_level_name_resolves_to_what_it_names(name: str) -> None:
    # `show` is also a submodule's name: the function must win, whatever was imported first.
    import authcourse.show

    value = getattr(authcourse, name)
    assert callable(value) and value.__name__ == name


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        authcourse.nope  # noqa: B018
