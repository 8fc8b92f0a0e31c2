"""Every lesson of configs/lessons/ runs and its claim holds (benchmarks/lessons.py measures
them; the README's "Lessons" table is its output), and every lesson config is well formed."""
import importlib.util
import re
import sys

import pytest

from helpers import ROOT

spec = importlib.util.spec_from_file_location("lessons", ROOT / "benchmarks" / "lessons.py")
lessons = importlib.util.module_from_spec(spec)
sys.modules["lessons"] = lessons  # its dataclass looks its module up
spec.loader.exec_module(lessons)
LESSON_FILES = sorted((ROOT / "configs" / "lessons").glob("*.yaml"))


@pytest.mark.parametrize("lesson", lessons.LESSONS, ids=lambda x: x.configs[0] if x.configs else "graph")
def test_the_lesson_shows_what_it_claims(lesson):
    figures = lesson.measure()
    assert lesson.claim(figures), (lesson.name, figures)
    shown = lesson.shows(figures)  # the README's "what you will see": it quotes the figures
    assert isinstance(shown, str) and any(c.isdigit() for c in shown), shown


def test_every_lesson_config_is_used_validates_and_says_what_to_look_for(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from backprop_cli.cli import main
    used = {c for lesson in lessons.LESSONS for c in lesson.configs}
    assert {p.stem for p in LESSON_FILES} <= used, "a lesson config no lesson runs"
    monkeypatch.chdir(tmp_path)
    for path in LESSON_FILES:
        text = path.read_text()
        header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
        assert header.startswith("# Lesson: ") and re.search(r"\(notes? \d{3}", header), path.name
        assert f"configs/lessons/{path.name}" in header and "Look for:" in header, path.name
        sweep = "\nbase:" in text or "\nparameters:" in text
        args = ["sweep", str(path), "--dry-run"] if sweep else ["config", "validate", str(path)]
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, (path.name, r.output)


def test_the_readme_lists_every_lesson_with_its_command():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Lessons"):]
    section = section[:section.index("\n## ", 3)]
    for lesson in lessons.LESSONS:
        assert f"| {lesson.name} |" in section and lesson.command in section, lesson.name
