"""Answers files (--answers FILE): one format and one reader for every question either tool asks.

    # a comment
    patches.confirm = yes
    rollback.unfinished = continue

One question per line: its id, '=', the answer; blank lines and lines starting with '#' or ';'
are ignored, and an empty answer leaves the question open. A file holds answers for both
tools: each takes the questions it asks. The file is one we trust (config.read_text: owner and
mode checked); anything else in it is exit 2 naming the file and the line (docs/precheck.md).
"""
import re

from drupgrade import config
from drupgrade.errors import EXIT_USAGE, DrupgradeError
from drupgrade.i18n import _

YES = ("y", "yes", "true", "1")
NO = ("n", "no", "false", "0")
ROLLBACK_UNFINISHED = "rollback.unfinished"  # rollback_tool manual: continue or abandon the unfinished session
# Every question drupgrade asks and the answers it takes: the precheck's <check>.confirm (continue
# the upgrade despite what the check found? one per check: yes|no), and rollback_tool's.
CHOICES = {ROLLBACK_UNFINISHED: ("continue", "abandon")}
_CONFIRM = re.compile(r"^[a-z0-9_]+\.confirm$")
_ID = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")


def choices(question_id):
    """The answers a question takes (None: drupgrade asks no such question)."""
    if _CONFIRM.match(question_id):
        return ("yes", "no")
    return CHOICES.get(question_id)


def read(path):
    """{question id: answer} from the file (True/False for a yes/no question), {} without one."""
    if not path:
        return {}
    text, _st = config.read_text(path, _("answers file"))
    found, lines = {}, {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            raise _bad(path, n, _("{text}: there are no sections; write one 'question_id = answer' per "
                                  "line").format(text=line))
        qid, eq, value = (part.strip() for part in line.partition("="))
        if not eq or not _ID.match(qid):
            raise _bad(path, n, _("{text!r} is not 'question_id = answer'").format(text=line))
        takes = choices(qid)
        if takes is None:
            raise _bad(path, n, _("{id} is not a question drupgrade asks (they are <check>.confirm and "
                                  "{known})").format(id=qid, known=", ".join(sorted(CHOICES))))
        if qid in lines:
            raise _bad(path, n, _("{id} is answered twice (also on line {first})").format(id=qid, first=lines[qid]))
        lines[qid] = n
        value = value.lower()
        if not value:
            continue  # left open
        if takes == ("yes", "no") and value in YES + NO:
            found[qid] = value in YES
        elif value in takes:
            found[qid] = value
        else:
            raise _bad(path, n, _("{id} = {answer!r} is not an answer: write {choices}").format(
                id=qid, answer=value, choices=" | ".join(takes)))
    return found


def _bad(path, n, problem):
    return DrupgradeError(_("answers file {file}, line {n}: {problem}").format(file=path, n=n, problem=problem),
                          code=EXIT_USAGE,
                          hint=_("fix that line (one 'question_id = answer' per line, '#' for comments: "
                                 "docs/precheck.md), then run the command again; nothing was changed"))
