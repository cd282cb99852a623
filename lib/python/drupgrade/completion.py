"""Bash completion of both tools, generated from what their parsers declare (cli.Parser.declared and
.commands): the commands, each command's options, the global options before or after the command,
and the values an option declares (choices; files for FILE and DIR). packaging/dist.sh writes
share/bash-completion/completions/<tool> into the tarball with:

  python3 -m drupgrade.completion upgrade|rollback
"""
import re
import sys

from drupgrade import cli

FILES = ("FILE", "DIR", "PKG_OLD", "PKG_NEW")  # metavars whose values are paths


def function_name(tool):
    return "_drupgrade_" + re.sub(r"\W", "_", cli.TOOLS[tool][0])


def _options(parser):
    return [d for d in parser.declared if d["names"][0].startswith("-")]


def _words(items):
    return " ".join(sorted(items))


def _value_cases(parser, pattern):
    """case arms `pattern:--opt)` that complete the value of each of the parser's options."""
    arms = []
    for d in _options(parser):
        if not d["value"]:
            continue
        labels = "|".join("%s:%s" % (pattern, n) for n in d["names"])
        if d["choices"]:
            arms.append("    %s) words=%s ;;" % (labels, _quote(_words(str(c) for c in d["choices"]))))
        elif d["metavar"] in FILES:
            arms.append("    %s) _drupgrade_files; return 0 ;;" % labels)
        else:
            arms.append("    %s) return 0 ;;" % labels)  # a value only the operator knows
    return arms


def _quote(text):
    return "'" + text.replace("'", "'\\''") + "'"


def script(tool):
    """The completion script of a tool (bash; ShellCheck clean)."""
    parser = cli.build_parser(tool)
    prog, func = cli.TOOLS[tool][0], function_name(tool)
    valued = sorted(n for d in _options(parser) if d["value"] for n in d["names"])
    top = [n for d in _options(parser) for n in d["names"]]
    lines = [
        "# bash completion of %s, generated from its command-line definitions (drupgrade.completion)." % prog,
        "# Load it with: source share/bash-completion/completions/%s (docs/install.md)." % prog,
        "",
        "_drupgrade_files() {",
        '  mapfile -t COMPREPLY < <(compgen -f -- "${COMP_WORDS[COMP_CWORD]}")',
        "}",
        "",
        "%s() {" % func,
        '  local cur=${COMP_WORDS[COMP_CWORD]} prev="" cmd="" words="" i',
        '  ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}',
        "  # the command: the first word that is neither an option nor a global option's value",
        "  for ((i = 1; i < COMP_CWORD; i++)); do",
        '    case ${COMP_WORDS[i]} in',
        "      %s) ((i += 1)) ;;" % "|".join(valued),
        "      -*) ;;",
        '      *) cmd=${COMP_WORDS[i]}; break ;;',
        "    esac",
        "  done",
        '  case "$cmd:$prev" in  # the value of an option',
    ]
    lines += _value_cases(parser, "*")
    for name, sub in sorted(parser.commands.items()):
        lines += [arm for arm in _value_cases(sub, name) if arm not in _value_cases(parser, name)]
    lines += [
        "  esac",
        '  if [[ -z $words ]]; then',
        "    case $cmd in",
        '      "") words=%s ;;' % _quote(_words(top)),
    ]
    for name, sub in sorted(parser.commands.items()):
        lines.append("      %s) words=%s ;;" % (name, _quote(_words(n for d in _options(sub) for n in d["names"]))))
    lines += [
        "    esac",
        "    if [[ $cur != -* ]]; then  # a word, not an option: the command, or what only the operator knows",
        '      [[ -z $cmd ]] && words=%s || words=""' % _quote(_words(parser.commands)),
        "    fi",
        "  fi",
        '  mapfile -t COMPREPLY < <(compgen -W "$words" -- "$cur")',
        "}",
        "",
        "complete -F %s %s" % (func, prog),
        "",
    ]
    return "\n".join(lines)


def main(argv):
    if len(argv) != 1 or argv[0] not in cli.TOOLS:
        sys.stderr.write("usage: python3 -m drupgrade.completion {%s}\n" % "|".join(sorted(cli.TOOLS)))
        return 2
    sys.stdout.write(script(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
