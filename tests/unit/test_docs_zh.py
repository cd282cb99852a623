"""The Chinese operator's guide (docs/zh/) names only what exists: every command and option of
bin/upgrade.sh and bin/rollback_tool it writes is one the tools' own parser declares, every exit
code it names is one of errors.py, and every line troubleshooting.md quotes as the tool's output
is made of the tool's real messages (the zh catalog: po/zh_CN/*.po, the zh texts of the bash
scripts).

The guide's conventions (docs/zh/README.md says them to the reader too):
- a command is written in a code block or in inline code, global options before the command:
  `bin/upgrade.sh --lang zh plan --to 2.2.0`; a command line that shows a mistake on purpose ends
  with the comment `# 错误示例` and is not checked;
- a tool exit code is written `退出码 N` (in the text, or a code-block line of its own: the
  `echo "退出码 $?"` of an example), or in a table whose first column is headed `退出码`;
- screen output is a ```console block: `$ ` starts a command line, `…` alone stands for lines
  left out; in troubleshooting.md every other line of such a block must be the tool's words,
  and a fenced block needs a language (console, ini, bash, json).
"""
import contextlib
import io
import json
import os
import re

import pytest

from drupgrade import cli, errors

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = os.path.join(TOP, "docs", "zh")
TOOL_NAMES = {"upgrade.sh": "upgrade", "rollback_tool": "rollback"}
CJK = re.compile(r"[\u4e00-\u9fff]")
EXIT_CODES = {v for k, v in vars(errors).items() if k.startswith("EXIT_") and isinstance(v, int)}

# --- what the tools declare ---------------------------------------------------------------

OPTION_IN_USAGE = re.compile(r"(--[a-z][\w-]*)(?: (?![-\[])(\{[^}]*\}|[^\s\]]+))?")


def _options(usage):
    """{--option: None (a flag) | set of its choices | "" (takes a value)} from a usage text."""
    found = {}
    for opt, value in OPTION_IN_USAGE.findall(usage):
        if not value:
            found[opt] = None
        elif value.startswith("{"):
            found[opt] = set(value.strip("{}").split(","))
        else:
            found[opt] = ""
    return found


def _help(parser, argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        parser.parse_args(argv + ["--help"])
    return out.getvalue()


def declared(tool):
    """(global options, {command: its options}) as the tool's parser declares them: the commands
    cli.build_parser registers (cli.discover), each one's options from its usage as argparse prints it."""
    parser = cli.build_parser(tool)
    commands = {}
    for name in cli.discover(tool):
        usage = _help(parser, [name]).split("\n\n")[0]
        commands[name] = _options(usage)
    return _options(parser.format_usage()), commands


@pytest.fixture(scope="module")
def tools():
    return {t: declared(t) for t in TOOL_NAMES.values()}


# --- commands and options written in the guide ---------------------------------------------

CODE_BLOCK = re.compile(r"^```([\w-]*)\n(.*?)^```", re.M | re.S)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
TOOL_CALL = re.compile(r"(?<![\w.-])(?:[\w.-]*/)*(upgrade\.sh|rollback_tool)(?=[ \t])(.*)")
SEPARATORS = {";", "|", "||", "&&", "&", "2>&1"}
PLACEHOLDER = re.compile(r"^(<.*>|\{.*\}|[A-Z][A-Z0-9_|]*|\.\.\.|…)$")
WRONG_ON_PURPOSE = "# 错误示例"  # a command line that shows what a mistake prints
STRIP_LEFT = "[(（\"'"
STRIP_RIGHT = "])）\"'，。；：,;:、"


def code_texts(text):
    """(the code blocks as (language, body), the inline code spans outside them)."""
    blocks = CODE_BLOCK.findall(text)
    rest = CODE_BLOCK.sub("", text)
    return blocks, INLINE_CODE.findall(rest)


def command_lines(text):
    """Every stretch of code that calls one of the tools: (tool, the words after its name)."""
    blocks, spans = code_texts(text)
    lines = [line for _lang, body in blocks for line in body.splitlines()] + spans
    found = []
    for line in lines:
        if WRONG_ON_PURPOSE in line:
            continue
        for m in TOOL_CALL.finditer(line):
            found.append((TOOL_NAMES[m.group(1)], m.group(2)))
    return found


def _words(rest):
    for raw in rest.split():
        if raw in SEPARATORS or raw.startswith(("#", ">", "2>")) or CJK.search(raw):
            return  # the end of the command: a shell separator, a comment, the sentence goes on
        stop = raw.endswith(";")
        word = raw.strip(STRIP_LEFT).rstrip(STRIP_RIGHT)
        if word:
            yield word
        if stop:
            return


def check_call(tool, rest, tools):
    """What is wrong with one call of a tool: an unknown command, an option that neither the
    command nor the tool declares, a value outside an option's choices."""
    name = {v: k for k, v in TOOL_NAMES.items()}[tool]
    globals_, commands = tools[tool]
    problems, command, pending = [], None, None
    for word in _words(rest):
        if pending is not None:
            if pending and not PLACEHOLDER.match(word) and word not in pending:
                problems.append("%s: value %r is not one of %s" % (name, word, sorted(pending)))
            pending = None
            continue
        if word.startswith("--") or word in ("-h", "-v"):
            opt, _eq, value = word.partition("=")
            known = dict(globals_, **(commands[command] if command else {}))
            if opt not in known and opt not in ("-h", "--help", "-v", "--verbose"):
                where = "%s %s" % (name, command) if command else name
                problems.append("%s: no option %s" % (where, opt))
            elif known.get(opt) is not None:
                if value:
                    if known[opt] and value not in known[opt]:
                        problems.append("%s: value %r is not one of %s" % (name, value, sorted(known[opt])))
                else:
                    pending = known[opt]
            continue
        if command is None:
            if PLACEHOLDER.match(word):
                return problems
            choices = word.split("|")  # `precheck|retry`: either command (the tool's own hint writes so)
            missing = [c for c in choices if c not in commands]
            if missing:
                problems.append("%s: no command %r" % (name, "|".join(missing)))
                return problems
            command = choices[0] if len(choices) == 1 else None
            if command is None:
                return problems
    return problems


# --- exit codes ----------------------------------------------------------------------------

EXIT_IN_TEXT = re.compile(r"(?:退出码|返回码)\s*[:：]?\s*(\d+)|\bexit(?: code)?\s+(\d+)")
EXIT_LINE = re.compile(r"^\s*退出码\s*(\d+)\s*$")


def exit_codes(text):
    """Every tool exit code the text names: in the text outside code, on a code line of its own,
    and in the first column of a table headed 退出码."""
    blocks, _spans = code_texts(text)
    named = []
    prose = CODE_BLOCK.sub("", text)
    for m in EXIT_IN_TEXT.finditer(prose):
        named.append(int(m.group(1) or m.group(2)))
    for _lang, body in blocks:
        named += [int(m.group(1)) for m in map(EXIT_LINE.match, body.splitlines()) if m]
    in_table = False
    for line in prose.splitlines():
        cells = [c.strip(" `*") for c in line.strip().strip("|").split("|")] if line.strip().startswith("|") else None
        if cells is None:
            in_table = False
        elif cells[0] == "退出码":
            in_table = True
        elif in_table and not set(cells[0]) <= set("-: "):
            named.append(int(cells[0]) if cells[0].isdigit() else -1)
    return named


def check_exit_codes(text):
    return ["exit code %s is not one the tools use (errors.py: %s)" % (c if c >= 0 else "?", sorted(EXIT_CODES))
            for c in exit_codes(text) if c not in EXIT_CODES]


# --- the tool's words ----------------------------------------------------------------------

PO_PLACEHOLDER = re.compile(r"\{[^{}]*\}|%\([a-z_]+\)[sdr]|%[sdr]")
SH_PLACEHOLDER = re.compile(r"\$\{[^}]*\}|\$\([^)]*\)|\$\w+")
_SH_CHAR = r'(?:[^"\\$]|\\.|\$\{[^}]*\}|\$\([^)]*\)|\$\w+)'
SH_ZH_STRING = re.compile('"(%s*[\u4e00-\u9fff]%s*)"' % (_SH_CHAR, _SH_CHAR))
SH_ZH_HEADER = re.compile(r"^# (?:Summary-zh|Label-zh): (.+)$", re.M)
LOG_PREFIX = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \[[A-Z]+\] ")


def _template(text, placeholder):
    parts = placeholder.split(text)
    pattern = "(.+?)".join(re.escape(p) for p in parts)
    if len(parts) > 1 and not parts[-1]:  # a value at the end takes the rest of the line, not one character
        pattern = pattern[:-len("(.+?)")] + "(.+)"
    return re.compile(pattern, re.S), "".join(parts)


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def catalog():
    """The zh messages the tool prints, as (regex, literal text) per line of each message: the
    msgstrs of po/zh_CN/*.po, the Chinese texts of the node-side bash scripts and of the data the
    tool prints (conf/*.json, products/**/*.json)."""
    from importlib import util
    spec = util.spec_from_file_location("msgids", os.path.join(TOP, "po", "msgids.py"))
    msgids = util.module_from_spec(spec)
    spec.loader.exec_module(msgids)
    entries, _dups = msgids.po_entries()
    found = set()
    for zh in entries.values():
        for line in zh.splitlines():
            if line.strip():
                found.add((line.strip(), "po"))
    for base in ("scripts", "products"):
        for root, _dirs, files in os.walk(os.path.join(TOP, base)):
            for f in files:
                path = os.path.join(root, f)
                try:
                    with open(path, encoding="utf-8") as fh:
                        text = fh.read()
                except (UnicodeDecodeError, OSError):
                    continue
                if not text.startswith("#!") and not f.endswith(".sh"):
                    continue
                found.update((s.strip(), "sh") for s in SH_ZH_STRING.findall(text) if s.strip())
                found.update((s.strip(), "sh") for s in SH_ZH_HEADER.findall(text))
    for base in ("conf", "products"):  # data the tool prints: retry policies' summary_zh, checks' description_zh
        for root, _dirs, files in os.walk(os.path.join(TOP, base)):
            for f in files:
                if f.endswith(".json"):
                    with open(os.path.join(root, f), encoding="utf-8") as fh:
                        data = json.load(fh)
                    found.update((v.strip(), "po") for v in _strings(data) if CJK.search(v))
    out = []
    for text, kind in sorted(found):
        out.append(_template(text, PO_PLACEHOLDER if kind == "po" else SH_PLACEHOLDER))
    return out


MIN_MEASURE = 4  # a shorter catalog text (通过, 是, 秒) proves nothing about where a line came from


class Words:
    """Whether a line of screen output is the tool's words: at least 60 % of its Chinese characters
    lie in the literal text of catalog messages found in it (a message's placeholders take any
    value: node names, paths, and the catalog messages nested in them, which count where they are
    found themselves). A line without Chinese is data (a unit's state, ssh's own error), not a message."""

    SHARE = 0.6

    def __init__(self, templates):
        self.long = [regex for regex, literal in templates if len(CJK.findall(literal)) >= MIN_MEASURE]
        self.short = [regex for regex, literal in templates if len(CJK.findall(literal)) < MIN_MEASURE]

    @staticmethod
    def _literal(m, offset, marked):
        edges = [m.start()] + [p for i in range(1, len(m.groups()) + 1) for p in m.span(i)] + [m.end()]
        for start, end in zip(edges[::2], edges[1::2]):
            marked.update(range(offset + start, offset + end))

    def covered(self, text):
        """The positions of text that catalog messages' literal text covers: a long message found
        anywhere in it, a short one (错误: {detail}, 报告：{path}) only as the whole text or the whole
        value of a found message's placeholder."""
        marked, segments = set(), [(0, len(text))]
        for regex in self.long:
            for m in regex.finditer(text):
                self._literal(m, 0, marked)
                segments += [m.span(i) for i in range(1, len(m.groups()) + 1)]
        for start, end in segments:
            part = text[start:end]
            lead = len(part) - len(part.lstrip())
            for regex in self.short:
                m = regex.fullmatch(part.strip())
                if m:
                    self._literal(m, start + lead, marked)
        return marked

    def is_tools(self, line):
        text = LOG_PREFIX.sub("", line).strip()
        cjk = [i for i, ch in enumerate(text) if CJK.match(ch)]
        if not cjk:
            return True
        marked = self.covered(text)
        return sum(1 for i in cjk if i in marked) >= self.SHARE * len(cjk)


def output_lines(text):
    """(language, line) of the fenced blocks that are not command or exit-code lines."""
    blocks, _spans = code_texts(text)
    for lang, body in blocks:
        for line in body.splitlines():
            s = line.strip()
            if s and not s.startswith("$ ") and s != "…" and not EXIT_LINE.match(s):
                yield lang, line


def check_quotes(text, words):
    problems = []
    for lang, line in output_lines(text):
        if not lang:
            problems.append("a fenced block without a language (console, ini, bash, json): %r" % line)
        elif lang == "console" and not words.is_tools(line):
            problems.append("not the tool's words (no zh message of the catalog matches): %r" % line)
    return problems


# --- the guide -------------------------------------------------------------------------------

def guide():
    texts = {}
    for f in sorted(os.listdir(DOCS)):
        if f.endswith(".md"):
            with open(os.path.join(DOCS, f), encoding="utf-8") as fh:
                texts[f] = fh.read()
    return texts


def check_doc(name, text, tools, words=None):
    problems = ["%s: %s" % (name, p) for tool, rest in command_lines(text) for p in check_call(tool, rest, tools)]
    problems += ["%s: %s" % (name, p) for p in check_exit_codes(text)]
    if words is not None:
        problems += ["%s: %s" % (name, p) for p in check_quotes(text, words)]
    return problems


def test_the_guide_has_every_chapter():
    assert set(guide()) >= {"README.md", "install.md", "plan.md", "precheck.md", "run.md", "resume.md",
                            "rollback.md", "troubleshooting.md"}


def test_every_command_option_and_exit_code_in_the_guide_exists(tools):
    words = Words(catalog())
    problems = []
    calls = 0
    for name, text in guide().items():
        calls += len(command_lines(text))
        problems += check_doc(name, text, tools, words if name == "troubleshooting.md" else None)
    assert calls > 50, "the guide's commands are not found: the reader is broken"
    assert problems == []


def test_the_exit_code_table_lists_every_code_the_tools_use():
    assert set(exit_codes(guide()["README.md"])) >= EXIT_CODES


def test_troubleshooting_quotes_real_output():
    text = guide()["troubleshooting.md"]
    assert sum(1 for lang, _l in output_lines(text) if lang == "console") > 30


def test_the_parser_is_read_not_assumed(tools):
    globals_, upgrade = tools["upgrade"]
    assert {"--config", "--lang", "--json", "--yes", "--answers", "--take-over"} <= set(globals_)
    assert globals_["--lang"] == {"zh", "en"} and globals_["--config"] == ""
    assert upgrade["run"]["--mode"] == {"auto", "jump", "progressive"} and upgrade["run"]["--to"] == ""
    assert "step6" in tools["rollback"][1] and "--dry-run" in tools["rollback"][1]["prune"]


BAD = """
# 坏的示例
执行 `bin/upgrade.sh frobnicate --to 2.2.0`，或 `upgrade.sh run --to 2.2.0 --fast`。

```console
$ bin/upgrade.sh --lang fr plan --to 2.2.0; echo "退出码 $?"
$ bin/rollback_tool --yes auto latest --keep 3
$ bin/upgrade.sh --lang zh precheck --to 2.2.0 | tail
[2026-12-02 19:45:58] [INFO] 所有节点的升级前检查均已通过
错误: 所有节点的升级前检查均已失败，请重装系统
退出码 7
```

| 退出码 | 含义 |
|---|---|
| 0 | 成功 |
| 9 | 不存在 |

失败时退出码 6。

```
无语言的块
```
"""


def test_the_checker_finds_what_does_not_exist(tools):
    words = Words(catalog())
    problems = check_doc("bad.md", BAD, tools, words)
    text = "\n".join(problems)
    assert "no command 'frobnicate'" in text
    assert "upgrade.sh run: no option --fast" in text
    assert "value 'fr' is not one of ['en', 'zh']" in text
    assert "rollback_tool auto: no option --keep" in text
    assert [p for p in problems if "exit code" in p] == ["bad.md: exit code %d is not one the tools use (errors.py: %s)"
                                                        % (c, sorted(EXIT_CODES)) for c in (6, 7, 9)]
    assert "not the tool's words" in text and "请重装系统" in text
    assert "所有节点的升级前检查均已通过'" not in text  # a real message passes
    assert "without a language" in text
    assert len(problems) == 9, problems


def test_a_good_snippet_passes(tools):
    good = ("`bin/upgrade.sh --lang zh --yes run --to 2.2.0 --mode jump`、`bin/rollback_tool auto_continue_from 3`、"
            "`bin/upgrade.sh COMMAND`，退出码 5。\n\n```console\n"
            "$ bin/rollback_tool --lang zh prune --keep 2 --dry-run\n…\n退出码 0\n```\n")
    assert check_doc("good.md", good, tools, Words(catalog())) == []
