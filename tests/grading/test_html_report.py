"""``grade ... --html``: one offline page with the table, the charts and every learner's notes."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import FIXTURE_CHECKS, lab, solution, write

from authcourse.checks.chapters import EXTRA_MODULES_ENV_VAR
from authcourse.grading import html_report
from authcourse.grading.model import ExerciseScore, Grade


def rows() -> list[Grade]:
    return [
        Grade("room/alice/03_jwt.ipynb", "alice", "03",
              [ExerciseScore("03.1", 2, 2.0, "passed"), ExerciseScore("03.10", 3, 3.0, "passed")]),
        Grade("room/bob/03_jwt.ipynb", "bob", "03",
              [ExerciseScore("03.1", 2, 1.0, "failed"), ExerciseScore("03.10", 3, 3.0, "passed")],
              notes=["cell 4 raised <b>NameError</b> & stopped"]),
        Grade("room/carol", "carol", notes=["no notebooks found"]),
    ]  # fmt: skip


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parse(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(page)
    return parser.tags


def test_the_page_has_the_table_both_charts_and_the_notes() -> None:
    page = html_report.render(rows())
    tags = parse(page)
    assert page.startswith("<!DOCTYPE html>")
    assert [tag for tag, _ in tags].count("svg") == 2
    figures = [attrs.get("id") for tag, attrs in tags if tag == "figure"]
    assert figures == ["pass-rate-chart", "distribution-chart"]
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    assert body.count("<tr>") == 3
    # Exercise columns in course order (03.1 before 03.10), a passed cell marked as such.
    header = page.split("<thead>")[1].split("</thead>")[0]
    assert re.findall(r"<th>([^<]*)</th>", header) == [
        "learner",
        "chapter",
        "03.1",
        "03.10",
        "total",
    ]
    assert '<td class="num passed" title="passed">2/2</td>' in body
    assert '<td class="num">4/5</td>' in body  # bob: 1 + 3 of 2 + 3
    # Learner text is escaped, never markup.
    assert "cell 4 raised &lt;b&gt;NameError&lt;/b&gt; &amp; stopped" in page
    assert "<b>NameError</b>" not in page
    assert "no notebooks found" in page


def test_pass_rates_and_the_distribution_are_computed_from_the_rows() -> None:
    rates = {rate.id: (rate.passed, rate.attempted) for rate in html_report.pass_rates(rows())}
    assert rates == {"03.1": (1, 2), "03.10": (2, 2)}
    page = html_report.render(rows())
    assert "03.1: 1 of 2 passed" in page and "03.10: 2 of 2 passed" in page
    # carol (nothing graded, max 0) is not a 0 % score in the distribution.
    assert html_report.percentages(rows()) == [100.0, 80.0]
    assert "Mean 90%, lowest 80%, highest 100%." in page


def test_the_page_works_offline() -> None:
    page = html_report.render(rows())
    assert not re.search(r"https?:", page), "no URL at all: nothing to fetch from elsewhere"
    assert "//" not in re.sub(r"<style>.*?</style>", "", page, flags=re.S).replace("<!DOCTYPE", "")
    for tag, attrs in parse(page):
        assert tag not in {"script", "link", "iframe", "img"}, tag
        assert "src" not in attrs and "href" not in attrs, (tag, attrs)


def test_an_empty_room_still_makes_a_page() -> None:
    page = html_report.render([])
    assert "No exercise was graded." in page and "No submission was graded." in page
    assert "<svg" not in page


@pytest.mark.slow
def test_the_grade_command_writes_the_page(tmp_path: Path) -> None:
    write(solution(), tmp_path / "room" / "alice" / "99_fixture.ipynb")
    write(lab(), tmp_path / "room" / "bob" / "99_fixture.ipynb")
    (tmp_path / "room" / "carol").mkdir()
    (tmp_path / "room" / "carol" / "99_fixture.ipynb").write_text("not json", encoding="utf-8")
    report = tmp_path / "report.html"
    env = {**__import__("os").environ, EXTRA_MODULES_ENV_VAR: str(FIXTURE_CHECKS)}
    done = subprocess.run(
        [sys.executable, "-m", "authcourse", "grade", str(tmp_path / "room"), "--jobs", "2",
         "--html", str(report)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    page = report.read_text(encoding="utf-8")
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    assert [re.sub(r"<.*?>", "", r.split("</td>")[0]) for r in body.split("<tr>")[1:]] == [
        "alice", "bob", "carol",
    ]  # fmt: skip
    assert "99.1: 1 of 3 passed" in page  # alice only; bob's stub and carol's file fail it
    assert "not a readable notebook" in page  # carol's note
    assert page.count("<svg") == 2 and not re.search(r"https?:", page)
