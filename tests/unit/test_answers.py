"""Answers files (drupgrade.answers): one format for precheck's and rollback_tool's questions."""
import os

import pytest

from drupgrade import answers, precheck, rollback
from drupgrade.errors import EXIT_USAGE, DrupgradeError

BOTH = """# answers for an upgrade and for the rollback that may follow it
patches.confirm = Yes

; rollback_tool manual, with a session left unfinished
rollback.unfinished = abandon
selinux.confirm =
"""


def write(tmp_path, text, name="answers.ini"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    os.chmod(str(p), 0o600)
    return str(p)


class Report:
    """What precheck.answer_questions reads of a report."""

    def __init__(self, ids):
        self.questions = [{"id": q, "check": q.split(".")[0], "answer": None, "answered_by": None} for q in ids]
        self.findings = []

    def inhibitors(self):
        return []

    def unanswered(self):
        return [q for q in self.questions if q["answer"] is None]


class Args:
    def __init__(self, path):
        self.answers = path


class Ctx:
    yes = False

    def __init__(self, path):
        self.args = Args(path)


def test_one_file_answers_the_questions_of_both_tools(tmp_path):
    path = write(tmp_path, BOTH)
    assert answers.read(path) == {"patches.confirm": True, "rollback.unfinished": "abandon"}
    report = Report(["patches.confirm", "selinux.confirm"])
    precheck.answer_questions(report, answers_path=path)
    assert [(q["answer"], q["answered_by"]) for q in report.questions] == [(True, "answers_file"), (None, None)]
    rb = rollback.Rollback.__new__(rollback.Rollback)
    rb.ctx = Ctx(path)
    assert rb.ask(answers.ROLLBACK_UNFINISHED, "?", answers.CHOICES[answers.ROLLBACK_UNFINISHED],
                  "continue") == "abandon"


def test_yes_and_no_take_their_usual_spellings_and_no_file_is_no_answers(tmp_path):
    for word, value in (("y", True), ("TRUE", True), ("1", True), ("No", False), ("n", False), ("0", False)):
        assert answers.read(write(tmp_path, "patches.confirm = %s\n" % word)) == {"patches.confirm": value}
    assert answers.read(None) == {}


@pytest.mark.parametrize("text, line, words", [
    ("[patches.confirm]\nconfirm = yes\n", 1, ["[patches.confirm]", "no sections"]),
    ("# fine\npatches.confirm yes\n", 2, ["patches.confirm yes", "question_id = answer"]),
    ("patches.confrim = yes\n", 1, ["patches.confrim", "not a question"]),
    ("patches.confirm = perhaps\n", 1, ["patches.confirm", "perhaps", "yes | no"]),
    ("rollback.unfinished = maybe\n", 1, ["rollback.unfinished", "maybe", "continue | abandon"]),
    ("rollback.unfinished = yes\n", 1, ["continue | abandon"]),
    ("patches.confirm = yes\n\npatches.confirm = no\n", 3, ["answered twice", "line 1"]),
])
def test_a_bad_line_is_exit_2_naming_the_file_and_the_line(tmp_path, text, line, words):
    path = write(tmp_path, text)
    with pytest.raises(DrupgradeError) as e:
        answers.read(path)
    assert e.value.code == EXIT_USAGE
    assert e.value.message.startswith("answers file %s, line %d: " % (path, line))
    for w in words:
        assert w in e.value.message
    assert "question_id = answer" in e.value.hint


def test_the_file_is_one_we_trust(tmp_path):
    path = write(tmp_path, "patches.confirm = yes\n")
    os.chmod(path, 0o666)
    with pytest.raises(DrupgradeError) as e:
        answers.read(path)
    assert e.value.code == EXIT_USAGE and "changed by other users" in e.value.message
    with pytest.raises(DrupgradeError) as e:
        answers.read(str(tmp_path / "missing"))
    assert e.value.code == EXIT_USAGE
    bad = tmp_path / "latin1"
    bad.write_bytes(b"patches.confirm = \xe9\n")
    os.chmod(str(bad), 0o600)
    with pytest.raises(DrupgradeError) as e:
        answers.read(str(bad))
    assert e.value.code == EXIT_USAGE and "UTF-8" in e.value.message


def test_the_precheck_skeleton_is_an_answers_file(tmp_path):
    text = precheck.answers_skeleton([{"id": "patches.confirm", "answer": None,
                                       "question": {"zh": "继续？", "en": "continue?"}}])
    assert "\npatches.confirm = \n" in text and "# 继续？\n# continue?\n" in text
    path = write(tmp_path, text)
    assert answers.read(path) == {}
    assert answers.read(write(tmp_path, text.replace("confirm = \n", "confirm = no\n"))) == {"patches.confirm": False}
