"""Command-line front for both tools; each command is one module under commands/<tool>/."""
import argparse
import codecs
import errno
import importlib
import io
import logging
import os
import pkgutil
import signal
import sys

from drupgrade import __version__, i18n, log
from drupgrade.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, DrupgradeError
from drupgrade.i18n import N_, _

ROOT = os.environ.get("DRUPGRADE_ROOT") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TOOLS = {
    "upgrade": ("upgrade.sh", "upgrade"),
    "rollback": ("rollback_tool", "rollback"),
}
LOG = logging.getLogger("drupgrade.cli")
# argparse's own texts, so that help and usage errors speak the operator's language too.
ARGPARSE_TEXTS = (
    N_("usage: "), N_("positional arguments"), N_("options"), N_("optional arguments"),
    N_("show this help message and exit"), N_("show program's version number and exit"),
    N_("unrecognized arguments: %s"), N_("the following arguments are required: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"), N_("expected one argument"),
    N_("argument %(argument_name)s: %(message)s"), N_("invalid %(type)s value: %(value)r"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
)
argparse._ = _


class Parser(argparse.ArgumentParser):
    """argparse with our exit code and a translated lead line for usage errors. It records what is
    declared on it, as it is declared (bash completion reads that: drupgrade.completion):
    `declared`, [{"names": option strings or the positional's name, "value": it takes a value,
    "choices": [...], "metavar": ...}]; `commands`, {name: its Parser}."""

    def __init__(self, *args, **kwargs):
        self.declared = []  # before argparse's own -h/--help
        self.commands = {}
        super().__init__(*args, **kwargs)

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        flag = kwargs.get("action") in ("store_true", "store_false", "count", "version", "help")
        self.declared.append({"names": list(args), "value": not flag, "choices": list(kwargs.get("choices") or ()),
                              "metavar": kwargs.get("metavar")})
        return action

    def add_command(self, sub, name, **kwargs):
        """A command's own parser (sub: add_subparsers' result), recorded in `commands`."""
        cmd = sub.add_parser(name, **kwargs)
        self.commands[name] = cmd
        return cmd

    def error(self, message):
        self.print_usage(sys.stderr)
        sys.stderr.write(_("error: {detail}").format(detail=message) + "\n")
        sys.stderr.write(_("run '{prog} --help' for the commands and options").format(
            prog=self.prog) + "\n")
        sys.exit(EXIT_USAGE)


def discover(tool):
    """Command modules of a tool, by name: the folder listing is the feature list. A module with
    commands() names several commands (rollback_tool's stepN, one per declared step)."""
    package = "drupgrade.commands." + TOOLS[tool][1]
    mod = importlib.import_module(package)
    found = {}
    for info in pkgutil.iter_modules(mod.__path__):
        if not info.name.startswith("_"):
            module = importlib.import_module(package + "." + info.name)
            if hasattr(module, "commands"):
                found.update(module.commands())
            else:
                found[getattr(module, "NAME", info.name.replace("_", "-"))] = module
    return found


class Context:
    """What a command gets: its arguments, the configuration (loaded on first use), output."""

    def __init__(self, tool, args):
        self.tool = tool
        self.args = args
        self.json = args.json
        self.yes = args.yes
        self.lang = i18n.current_lang()
        self.root = ROOT
        self._config = None
        self.console = None  # on a terminal: rich (tables, the live display); else plain lines
        if sys.stdout.isatty() and not args.json and not args.plain and os.environ.get("TERM") != "dumb":
            from rich.console import Console
            self.console = Console()

    @property
    def config_path(self):
        return self.args.config or os.path.join(self.root, "conf", "upgrade.ini")

    @property
    def config(self):
        if self._config is None:
            from drupgrade import config, state
            self._config = config.load(self.config_path)
            log.add_secrets(self._config.secrets)
            state.prepare_state_dir(self.state_dir)
            log.setup(self.state_dir, verbose=self.args.verbose)
            if getattr(self.args.module, "MUTATES", False) and self._config.run["fault_injection"] == "on":
                LOG.warning(_("[run] fault_injection = on: armed test faults on the nodes fire in this run. It is a "
                              "test feature: set fault_injection = off (the default) on a real cluster"))
        return self._config

    @property
    def product_name(self):
        """The product the configuration names ([product] name); the default without a configuration file."""
        if self.args.config or os.path.exists(self.config_path):
            return self.config.product_name
        from drupgrade import config
        return config.DEFAULT_PRODUCT

    @property
    def state_dir(self):
        return self.config.paths["state_dir"]

    def state_dir_or_none(self):
        return self._config.paths["state_dir"] if self._config is not None else None


def global_options(parser, suppress=False):
    """The options of every command, declared once: on the tool's parser (before the command) and
    on each command's parser (suppress: no default there, so that an option given before the
    command stays; given after it, it wins)."""
    extra = {"default": argparse.SUPPRESS} if suppress else {}
    parser.add_argument("--config", metavar="FILE", **extra,
                        help=_("configuration file (default: conf/upgrade.ini beside bin/)"))
    parser.add_argument("--lang", choices=("zh", "en"), **extra,
                        help=_("message language (default: from LC_ALL/LC_MESSAGES/LANG)"))
    parser.add_argument("--json", action="store_true", **extra, help=_("machine-readable JSON output"))
    parser.add_argument("--yes", action="store_true", **extra, help=_("answer confirmations with yes"))
    parser.add_argument("--answers", metavar="FILE", **extra, help=_("answers to questions, one per id"))
    parser.add_argument("--take-over", action="store_true", **extra,
                        help=_("take the node lock from another drupgrade run deliberately: its live runs "
                               "on the nodes are stopped first"))
    parser.add_argument("--verbose", "-v", action="store_true", **extra, help=_("show debug messages"))
    parser.add_argument("--plain", action="store_true", **extra,
                        help=_("plain log lines, no live display or tables (also when not on a terminal or "
                               "TERM=dumb)"))


def build_parser(tool):
    prog = TOOLS[tool][0]
    parser = Parser(prog=prog, description=_("drupgrade {version}: upgrade and roll back a product's "
                                             "cluster (bin/upgrade.sh products)").format(version=__version__))
    parser.add_argument("--version", action="version", version="drupgrade " + __version__,
                        help=_("show program's version number and exit"))
    global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, module in sorted(discover(tool).items()):
        summary = _(module.SUMMARY)
        cmd = parser.add_command(sub, name, help=summary, description=summary)
        module.add_arguments(cmd)
        global_options(cmd, suppress=True)
        cmd.set_defaults(module=module)
    return parser


def _lang_from_argv(argv):
    """--lang as given last (before or after the command: the later wins), before parsing: the
    parser's own texts speak it."""
    found = None
    for i, a in enumerate(argv):
        if a == "--lang" and i + 1 < len(argv):
            found = argv[i + 1] if argv[i + 1] in ("zh", "en") else None
        elif a.startswith("--lang="):
            value = a.split("=", 1)[1]
            found = value if value in ("zh", "en") else None
    return found


def _utf8_streams():
    """Python 3.6 under LANG=C writes ASCII and dies on the first Chinese character (3.7+ coerce
    the C locale to UTF-8, PEP 538/540): do the same here."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        encoding = getattr(stream, "encoding", None) or "ascii"
        if codecs.lookup(encoding).name == "ascii" and hasattr(stream, "buffer"):
            setattr(sys, name, io.TextIOWrapper(stream.buffer, encoding="utf-8", errors="backslashreplace",
                                                line_buffering=stream.line_buffering))


def _failed(e):
    """The operator's error message and what to do; the exit code."""
    sys.stderr.write(_("error: {detail}").format(detail=log.safe(e.message)) + "\n")
    if e.hint:
        sys.stderr.write(_("what to do: {hint}").format(hint=log.safe(e.hint)) + "\n")
    return e.code


def main(argv):
    if not argv or argv[0] not in TOOLS:
        sys.stderr.write("usage: python -m drupgrade {upgrade|rollback} ...\n")
        return EXIT_USAGE
    tool, argv = argv[0], argv[1:]
    os.umask(0o077)  # state, logs, reports, answers: for the invoking user only
    _utf8_streams()
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `upgrade.sh steps | head` ends quietly
    i18n.set_lang(_lang_from_argv(argv))
    try:
        parser = build_parser(tool)  # reads the step declarations (rollback_tool's stepN)
    except DrupgradeError as e:
        return _failed(e)
    args = parser.parse_args(argv)
    if args.lang:
        i18n.set_lang(args.lang)
    if not getattr(args, "module", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    log.setup(None, verbose=args.verbose)
    ctx = Context(tool, args)
    try:
        return args.module.run(ctx) or 0
    except DrupgradeError as e:
        LOG.debug("error", exc_info=True)
        return _failed(e)
    except KeyboardInterrupt:
        sys.stderr.write(_("interrupted by the operator; the state is kept, run 'resume' or "
                           "'rollback_tool' to continue") + "\n")
        return EXIT_INTERRUPTED
    except Exception as e:  # noqa: BLE001 - last line of defence: say where the details are
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):  # a step log, a report...
            LOG.debug("disk full", exc_info=True)
            where = os.path.dirname(os.path.abspath(e.filename)) if e.filename else ctx.state_dir_or_none()
            detail = _("no space left on the controller to write {file} ({reason})").format(
                file=e.filename, reason=e.strerror) if e.filename else _(
                "no space left on the controller in {dir} ({reason})").format(dir=where or "?", reason=e.strerror)
            sys.stderr.write(_("error: {detail}").format(detail=detail) + "\n")
            sys.stderr.write(_("what to do: {hint}").format(hint=_(
                "free space in {dir} (see: df -h {dir}), then run the command again; an interrupted upgrade "
                "continues with 'bin/upgrade.sh resume' (its journal on disk is consistent)").format(
                dir=where or ".")) + "\n")
            return EXIT_FAILED
        LOG.exception("internal error")
        sys.stderr.write(_("internal error; details are in the controller log") + "\n")
        return EXIT_FAILED
