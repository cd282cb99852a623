"""Prechecks (design §4.2.4, SPEC E6): every check on every node, one report for the cluster.

A check is one unit declared once: a node script `scripts/checks/NN-name.sh` (run on every node
by `drcheck`, shipped on stdin and removed afterwards: a precheck changes nothing on a node), or
a controller function `drupgrade/checks/<name>.py`. Every check runs even when another failed.
Findings are pass / warn / fail / ask; a fail is an inhibitor (exit 3); an ask is a question
for the whole cluster answered by --yes, --answers FILE or on a terminal (else exit 4).
"""
import io
import json
import logging
import os
import sys
import tarfile
import threading
import time
import uuid

from drupgrade import answers, fanout, i18n, packages, product, safetext, state, steps, strategies, versions, view
from drupgrade.errors import EXIT_CONFIRM, EXIT_OK, EXIT_PRECHECK, EXIT_USAGE, DrupgradeError
from drupgrade.i18n import N_, _, both, pick

log = logging.getLogger("drupgrade.precheck")
SCHEMA_ID = "drupgrade.precheck/1"
SEVERITIES = ("pass", "warn", "fail", "ask")
# The node side: extracted into a private temporary directory named by the precheck's token ($1),
# run in a session of its own (setsid), removed (read-only checks). CANCEL_SCRIPT ends the sessions
# of a token's checks that still run (TERM, then KILL) and removes their directories: a precheck
# stopped by its timeout leaves nothing running or behind either.
NODE_SCRIPT = ('t=$1; shift; d=$(mktemp -d "/run/drcheck.$t.XXXXXX" 2>/dev/null || '
               'mktemp -d "${TMPDIR:-/tmp}/drcheck.$t.XXXXXX") || exit 97; '
               'trap \'rm -rf "$d"\' EXIT; tar -xzf - -C "$d" || exit 98; setsid -w env "$@" "$d/bin/drcheck" run')
CANCEL_SCRIPT = ('p="drcheck\\.$1\\."; for sig in TERM KILL; do '
                 'for pid in $(pgrep -f "$p"); do kill -s "$sig" -- "-$pid" "$pid" 2>/dev/null; done; '
                 'for _ in 1 2 3 4 5 6 7 8 9 10; do pgrep -f "$p" >/dev/null || break; sleep 0.3; done; done; '
                 'rm -rf "/run/drcheck.$1."* "${TMPDIR:-/tmp}/drcheck.$1."*; true')
CONN = "status"  # read-only queries: one connection attempt, no automatic reconnects


def _clean_text(text):
    """A {'zh', 'en'} text without control characters."""
    return {k: safetext.clean(v) for k, v in text.items()} if text else text


class Finding:
    """One result of one check on one node (node 'controller' for the controller's own checks)."""

    def __init__(self, check, node, severity, message, remediation=None, details=(), fid=None):
        assert severity in SEVERITIES, severity
        self.check = check
        self.node = node
        self.severity = severity
        # Node text (drcheck records, stderr) ends up here: made safe to show once, for every output.
        self.message = _clean_text(message)
        remediation = _clean_text(remediation)
        self.remediation = remediation if remediation and (remediation.get("en") or remediation.get("zh")) else None
        self.details = [safetext.clean(d, one_line=True) for d in details]
        self.id = fid or "%s.%s" % (check, node)
        self.refused = False  # an ask the operator answered with no

    @property
    def inhibitor(self):
        return self.severity == "fail" or self.refused

    def as_dict(self):
        return {"id": self.id, "check": self.check, "node": self.node, "severity": self.severity,
                "inhibitor": self.inhibitor, "message": self.message, "remediation": self.remediation,
                "details": self.details}


class NodeRun:
    """What one node answered: reachable or why not, its facts, its check findings."""

    def __init__(self, node):
        self.node = node
        self.error = None  # (message, hint) when the node cannot be reached
        self.facts = {}
        self.offset = None  # clock offset to the controller, seconds
        self.rtt = None
        self.findings = []
        self.skipped = set()


class Env:
    """What the controller checks see."""

    def __init__(self, cfg, transport, root, target=None, mode="auto", versions_before=None, hops=None):
        self.cfg = cfg
        self.transport = transport
        self.root = root
        self.target = target
        self.mode = mode
        self.versions_before = versions_before  # set inside a run: the versions it was planned from
        self.hops = hops  # [(src, dst)], the union over the nodes' paths
        self.run_hops = hops  # a run's own path (its journal's hops), None outside a run
        self.runs = {}  # node name -> NodeRun
        self.token = uuid.uuid4().hex[:12]  # names this precheck's directories on the nodes (cancel)
        self.cancelled = False  # set by cancel(): no node checks start any more
        self.in_flight = set()  # nodes whose checks run now
        self.lock = threading.Lock()
        self._matrix = None

    @property
    def matrix(self):
        if self._matrix is None:
            self._matrix = product.of(self.cfg).matrix()
        return self._matrix

    def package_path(self, version):
        return packages.package_path(self.cfg, version)

    def node_paths(self, node_version):
        """Hops for a node at node_version (empty when no target or no path). A run's precheck has the
        run's own path (self.hops: after a fallback the progressive one, a mixed cluster's combined
        order): the node's hops are those from its version on."""
        if not self.target or node_version in (None, "none"):
            return []
        if self.run_hops is not None:
            hops = [tuple(h) for h in self.run_hops]
            starts = [i for i, (src, _dst) in enumerate(hops) if src == node_version]
            return hops[starts[0]:] if starts else []
        try:
            return versions.plan_path(self.matrix, node_version, self.target, self.mode)[0]
        except DrupgradeError:
            return []


# -- the checks, as declared ---------------------------------------------------------------
def check_files(root, product_dir=None):
    """{file name: path} of the node checks: the generic ones (scripts/checks/NN-name.sh) and the
    product's own (products/<name>/checks/NN-name.sh: what they check names its services, paths and
    databases), which run beside them in one NN- order. A product's check may not reuse a name."""
    found, names = {}, {}
    for d in [os.path.join(root, "scripts", "checks")] + ([os.path.join(product_dir, "checks")] if product_dir else []):
        for fname in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            m = steps.STEP_FILE.match(fname)
            if not m:
                continue
            path = os.path.join(d, fname)
            if m.group(2) in names:
                raise DrupgradeError(_("the node check {name} is declared twice: {one} and {other}").format(
                    name=m.group(2), one=names[m.group(2)], other=path), code=EXIT_USAGE,
                    hint=_("rename one of them (a product's checks may not reuse a name of the tool's)"))
            names[m.group(2)] = path
            found[fname] = path
    return found


def node_checks(root, product_dir=None):
    """[(name, header)] of the node checks (check_files), in their NN- order."""
    return [(steps.STEP_FILE.match(f).group(2), steps.read_header(p))
            for f, p in sorted(check_files(root, product_dir).items())]


def controller_checks():
    """The modules of drupgrade/checks/, in their ORDER."""
    from drupgrade import checks
    return checks.discover()


def node_bundle(root, product_dir=None):
    """The node side as a tar.gz, laid out as in the node tool: lib/, checks/ (the tool's),
    products/<name>/checks/ (the product's: drcheck runs them for DR_PRODUCT), bin/drcheck."""
    buf = io.BytesIO()
    scripts = os.path.join(root, "scripts")
    own = os.path.join(scripts, "checks")
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for rel in ("lib", os.path.join("bin", "drcheck")):
            tar.add(os.path.join(scripts, rel), arcname=rel)
        for fname, path in sorted(check_files(root, product_dir).items()):
            where = "checks" if os.path.dirname(path) == own else \
                "products/%s/checks" % os.path.basename(os.path.normpath(product_dir))
            tar.add(path, arcname="%s/%s" % (where, fname))
    return buf.getvalue()


# -- the node side -------------------------------------------------------------------------
def tcp_reason(host, port, seconds):
    """Why ssh could not connect, in words: refused, no answer, or the port answers."""
    import socket
    try:
        socket.create_connection((host, port), timeout=min(seconds, 3)).close()
    except socket.timeout:
        return _("no answer from {host}:{port} within {seconds} s").format(host=host, port=port, seconds=seconds)
    except OSError as e:
        return _("{host}:{port}: {detail}").format(host=host, port=port, detail=e.strerror or e)
    return _("{host}:{port} answers, but no ssh session could be made").format(host=host, port=port)


def probe(transport, run, prod):
    """Connect once (reachability and auth: the "status" connection type, no reconnect loop),
    then the clock and the product version (facts["version"]: "none" when not installed; a file
    that holds no version: "none" and facts["version_text"], what it holds)."""
    from drupgrade.transport import Endpoint, TransportError
    from drupgrade.transport.failures import ConnectionNotRecoverable
    try:
        transport.session(run.node, CONN).connect()
        t0 = time.time()
        try:  # one round trip: the clock, then the version
            clock, version = prod.installed_version(transport, run.node, conn_type=CONN, retry=False,
                                                    before="date +%s.%N")
        except product.NotAVersion as e:
            clock, version = e.first, None
            run.facts["version_text"] = e.text
        t1 = time.time()
        run.facts["version"] = version or "none"
    except ConnectionNotRecoverable:
        ep = Endpoint.of(run.node)
        run.error = (tcp_reason(ep.host, ep.port, transport.settings.connect_timeout), None)
        return
    except TransportError as e:
        run.error = (e.message, e.hint)
        return
    try:
        run.offset = float(clock.strip()) - (t0 + t1) / 2.0
        run.rtt = t1 - t0
    except ValueError:
        pass


def node_context(env, node, node_version):
    hops = env.node_paths(node_version)
    paths = env.cfg.paths
    size = 0
    for _src, dst in hops:
        try:
            size += os.path.getsize(env.package_path(dst))
        except OSError:
            pass
    prod = product.of(env.cfg)
    ctx = {"DR_NODE": node.name, "DR_ROLES": ",".join(node.roles), "DR_TO": env.target or "",
           "DR_HOPS": str(max(1, len(hops))), "DR_PACKAGE_BYTES": str(size),
           "DR_PACKAGE_DIR": paths["node_package_dir"], "DR_BACKUP_ROOT": paths["node_backup_dir"],
           "DR_WORK_DIR": strategies.WORK_DIR, "DR_PRODUCT": prod.name, **prod.check_context(node.roles),
           **i18n.node_env()}
    if hops:  # the first hop's steps as the run binds them here: what its backup will archive (50-disk_backup)
        _strategy, bound = strategies.for_hop(prod.name, env.root, *hops[0])
        ctx.update(strategies.node_env(prod, bound, node.roles))
    return ctx


def parse_records(run, text):
    """Findings and facts from drcheck's records."""
    by_check = {}
    items = {}
    for line in text.splitlines():
        f = line.split("\t")
        if f[0] == "@@F" and len(f) >= 3:
            run.facts[f[1]] = f[2]
        elif f[0] == "@@S" and len(f) >= 2:
            run.skipped.add(f[1])
        elif f[0] == "@@I" and len(f) >= 3:
            items.setdefault(f[1], []).append(f[2])
        elif f[0] == "@@R" and len(f) >= 7 and f[2] in SEVERITIES:
            by_check.setdefault(f[1], []).append(f)
    for check, results in by_check.items():
        for i, f in enumerate(results):
            fid = "%s.%s" % (check, run.node.name) if len(results) == 1 else "%s.%d.%s" % (check, i + 1, run.node.name)
            run.findings.append(Finding(check, run.node.name, f[2], {"zh": f[3], "en": f[4]},
                                        {"zh": f[5], "en": f[6]}, items.get(check, ()), fid))


def run_node_checks(env, run, bundle):
    from drupgrade.transport import TransportError
    ctx = node_context(env, run.node, run.facts.get("version"))
    argv = ["bash", "-c", NODE_SCRIPT, "drcheck", env.token] + ["%s=%s" % kv for kv in sorted(ctx.items())]
    with env.lock:
        if env.cancelled:
            run.error = (_("the precheck was stopped (past its timeout) before the checks began on node {node}").format(
                node=run.node.name), None)
            return
        env.in_flight.add(run.node.name)
    try:
        res = env.transport.run(run.node, argv, conn_type=CONN, stdin=bundle, timeout=900, retry=False)
    except TransportError as e:
        run.error = (e.message, e.hint)
        return
    finally:
        with env.lock:
            env.in_flight.discard(run.node.name)
    if res.ssh_failed and "@@" not in res.stdout:
        run.error = (res.stderr.strip()[-300:], None)
        return
    parse_records(run, res.stdout)
    if res.rc != 0:
        run.findings.append(Finding("drcheck", run.node.name, "fail", both(
            N_("the checks could not run on node {node} (rc {rc}): {detail}"), node=run.node.name, rc=res.rc,
            detail=res.stderr.strip()[-300:]), both(N_("see the controller log; check /run and /tmp on the node"))))


def cancel(env, grace=60):
    """The precheck past its timeout (its thread cannot be stopped): no node checks start any more,
    those that run are ended on their nodes and their directories removed, until every one has
    returned (a start already on its way is ended when it arrives), for up to `grace` seconds."""
    with env.lock:
        env.cancelled = True
    deadline = time.time() + grace
    while True:
        with env.lock:
            nodes = [env.runs[name].node for name in sorted(env.in_flight)]
        if not nodes or time.time() > deadline:
            return
        fanout.fan_out(env.cfg, lambda n: env.transport.run(n, ["bash", "-c", CANCEL_SCRIPT, "drcancel", env.token],
                                                            conn_type=CONN, timeout=30, retry=False), nodes)
        settle = time.time() + 1
        while env.in_flight and time.time() < settle:
            time.sleep(0.1)


# -- the report ----------------------------------------------------------------------------
class Report:
    """Every finding of the cluster, the open questions and their answers."""

    def __init__(self, env, findings, checks):
        self.env = env
        self.findings = findings
        self.checks = checks  # [(id, summary {'zh','en'})], table rows
        self.questions = []
        self.created = state.now_iso()

    @property
    def nodes(self):
        return [n.name for n in self.env.cfg.nodes]

    def inhibitors(self):
        return [f for f in self.findings if f.inhibitor]

    def unanswered(self):
        return [q for q in self.questions if q["answer"] is None]

    @property
    def exit_code(self):
        if self.inhibitors():
            return EXIT_PRECHECK
        if self.unanswered():
            return EXIT_CONFIRM
        return EXIT_OK

    def as_dict(self):
        counts = {s: 0 for s in SEVERITIES}
        for f in self.findings:
            counts[f.severity] += 1
        return {"schema": SCHEMA_ID, "created": self.created, "target": self.env.target,
                "nodes": self.nodes,
                "checks": [{"id": c, "summary": s} for c, s in self.checks],
                "findings": [f.as_dict() for f in self.findings],
                "questions": self.questions,
                "summary": dict(counts, inhibitors=len(self.inhibitors()), unanswered=len(self.unanswered())),
                "exit_code": self.exit_code}

    # -- the terminal ------------------------------------------------------------------
    def cells(self):
        """{(check, node): severity} (worst first), the table's contents."""
        order = {"fail": 0, "ask": 1, "warn": 2, "pass": 3}
        cells = {}
        for f in self.findings:
            cur = cells.get((f.check, f.node))
            if cur is None or order[f.severity] < order[cur]:
                cells[(f.check, f.node)] = "fail" if f.inhibitor else f.severity
        return cells

    def columns(self):
        cols = list(self.nodes)
        if any(f.node == "controller" for f in self.findings):
            cols.append("controller")
        return cols

    def table_rows(self):
        cells = self.cells()
        cols = self.columns()
        label = {"pass": _("pass"), "warn": _("warn"), "fail": _("FAIL"), "ask": _("ask")}
        rows = []
        for check, _summary in self.checks:
            if not any((check, n) in cells for n in cols):
                continue
            rows.append([check] + [label.get(cells.get((check, n)), "-") for n in cols])
        return [_("check")] + cols, rows

    def problem_lines(self):
        """Every non-pass finding: where, what, and what to do."""
        lines = []
        for f in self.findings:
            if f.severity == "pass" and not f.inhibitor:
                continue
            lines.append(("error" if f.inhibitor else "warning",
                          "[%s] %s %s: %s" % (f.severity.upper() if not f.refused else "FAIL", f.node, f.check,
                                              pick(f.message["en"], f.message["zh"]))))
            for d in f.details:
                lines.append(("info", "      " + d))
            if f.remediation:
                hint = pick(f.remediation["en"], f.remediation["zh"])
                lines.append(("info", "      " + _("what to do: {hint}").format(hint=hint)))
        return lines

    def summary_line(self):
        n = len(self.inhibitors())
        if n:
            return "error", _("precheck failed: {n} inhibitor(s); nothing was changed on any node").format(n=n)
        if self.unanswered():
            return "warning", _("precheck needs an answer: {ids}").format(
                ids=", ".join(q["id"] for q in self.unanswered()))
        return "info", _("precheck passed on every node")

    def print(self, console, out):
        """The table on a terminal (rich), plain lines otherwise, then the problems."""
        head, rows = self.table_rows()
        if console is not None:
            from rich.table import Table
            colour = {_("pass"): "green", _("warn"): "yellow", _("FAIL"): "bold red", _("ask"): "magenta"}
            table = Table(title=_("precheck"))
            for h in head:
                table.add_column(h)
            for r in rows:
                table.add_row(r[0], *["[%s]%s[/]" % (colour[c], c) if c in colour else c for c in r[1:]])
            console.print(table)
        else:
            widths = [max(i18n.cells(r[i]) for r in [head] + rows) for i in range(len(head))]
            for r in [head] + rows:
                out("info", "  ".join(i18n.pad(c, w) for c, w in zip(r, widths)).rstrip())
        for level, line in self.problem_lines():
            out(level, line)

    # -- files -------------------------------------------------------------------------
    def write(self, directory, answers_path=None):
        """report.json (and answers.ini when questions are open) in directory; their paths."""
        os.makedirs(directory, mode=0o700, exist_ok=True)
        report = os.path.join(directory, "report.json")
        state.atomic_write_json(report, self.as_dict())  # 0600: node names, OS, patches
        skeleton = None
        if self.unanswered():
            skeleton = os.path.join(directory, "answers.ini")
            if not (answers_path and os.path.abspath(answers_path) == os.path.abspath(skeleton)):
                fd = os.open(skeleton + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with open(fd, "w", encoding="utf-8") as f:
                    f.write(answers_skeleton(self.questions))
                os.replace(skeleton + ".tmp", skeleton)
        return report, skeleton


# -- questions and answers ----------------------------------------------------------------
def make_questions(findings):
    """One cluster question per check with ask findings (the patch prompt of §4.2.4.2)."""
    asks = {}
    for f in findings:
        if f.severity == "ask":
            asks.setdefault(f.check, []).append(f)
    questions = []
    for check, found in sorted(asks.items()):
        nodes = ", ".join(f.node for f in found)
        items = "; ".join("%s: %s" % (f.node, ", ".join(d.split(": ", 1)[-1] for d in f.details)) for f in found)
        text = both(N_("node [{nodes}] has patches installed [{patches}], which may affect upgrade "
                       "compatibility; continue the upgrade? (Y/N)"), nodes=nodes, patches=items) \
            if check == "patches" else both(N_("{check} on node [{nodes}]: continue the upgrade? (Y/N)"),
                                            check=check, nodes=nodes)
        questions.append({"id": check + ".confirm", "check": check, "nodes": [f.node for f in found],
                          "question": text, "answer": None, "answered_by": None})
    return questions


def answers_skeleton(questions):
    """An answers file (drupgrade.answers) with every question, to fill in."""
    lines = ["# " + _("drupgrade answers file: write yes or no after each question's '=', then run the "
                      "command again with --answers FILE (docs/precheck.md)"), ""]
    for q in questions:
        lines.append("# " + q["question"]["zh"])
        lines.append("# " + q["question"]["en"])
        lines.append("%s = %s" % (q["id"], "" if q["answer"] is None else ("yes" if q["answer"] else "no")))
        lines.append("")
    return "\n".join(lines)


def answer_questions(report, yes=False, answers_path=None, interactive=False, ask=input, given=None):
    """Answers from the file, then --yes, then the terminal (only when nothing else blocks)."""
    if given is None:
        given = answers.read(answers_path)
    for q in report.questions:
        if q["id"] in given:
            q["answer"], q["answered_by"] = given[q["id"]], "answers_file"
        elif yes:
            q["answer"], q["answered_by"] = True, "yes"
    if interactive and not report.inhibitors():
        for q in report.unanswered():
            while True:
                reply = ask(pick(q["question"]["en"], q["question"]["zh"]) + " ").strip().lower()
                if reply in answers.YES + answers.NO:
                    q["answer"], q["answered_by"] = reply in answers.YES, "terminal"
                    break
    for q in report.questions:
        if q["answer"] is False:
            for f in report.findings:
                if f.check == q["check"] and f.severity == "ask":
                    f.refused = True


# -- the whole precheck --------------------------------------------------------------------
def run(env, yes=False, answers_path=None):
    """Every check on every node; the report (questions answered by the file or --yes)."""
    given = answers.read(answers_path)  # bad input: exit 2 before any node
    nodes = env.cfg.nodes
    env.runs = {n.name: NodeRun(n) for n in nodes}
    fanout.fan_out(env.cfg, lambda r: probe(env.transport, r, product.of(env.cfg)), env.runs.values())
    if env.target and env.hops is None:
        env.hops = sorted({h for r in env.runs.values() for h in env.node_paths(r.facts.get("version"))},
                          key=lambda h: versions.key(h[1]))
    product_dir = product.of(env.cfg).dir
    bundle = node_bundle(env.root, product_dir)
    reachable = [r for r in env.runs.values() if r.error is None]
    fanout.fan_out(env.cfg, lambda r: run_node_checks(env, r, bundle), reachable)
    findings, rows = [], []
    modules = controller_checks()
    node_decl = node_checks(env.root, product_dir)
    for mod in [m for m in modules if m.STAGE == "connect"]:
        rows.append((mod.ID, both(mod.SUMMARY)))
        findings += _safe(mod, env)
    for name, header in node_decl:
        rows.append((name, {"zh": header.get("Summary-zh", ""), "en": header.get("Summary", "")}))
        for n in nodes:
            findings += [f for f in env.runs[n.name].findings if f.check == name]
    for mod in [m for m in modules if m.STAGE == "cluster"]:
        rows.append((mod.ID, both(mod.SUMMARY)))
        findings += _safe(mod, env)
    for n in nodes:  # anything the node said that is not a declared check (drcheck itself)
        findings += [f for f in env.runs[n.name].findings if f.check not in {r[0] for r in rows}]
    if any(f.check == "drcheck" for f in findings):
        rows.append(("drcheck", both(N_("the node checks ran"))))
    report = Report(env, findings, rows)
    report.questions = make_questions(findings)
    answer_questions(report, yes=yes, given=given)
    return report


def _safe(mod, env):
    """A controller check that breaks is a failed check, not a stopped precheck."""
    try:
        return mod.run(env)
    except DrupgradeError as e:
        return [Finding(mod.ID, "controller", "fail", {"zh": e.message, "en": e.message},
                        {"zh": e.hint, "en": e.hint} if e.hint else None)]
    except Exception as e:  # noqa: BLE001 - every other check still runs
        log.exception("check %s", mod.ID)
        return [Finding(mod.ID, "controller", "fail", both(N_("check {check} broke: {detail}"), check=mod.ID,
                                                           detail=e), both(N_("see the controller log")))]


class PrecheckOptions:
    """What a precheck takes from the command that runs it (`upgrade.sh precheck`, or the run's
    precheck phase through NodeOps), never the command's context itself: --yes, --answers FILE,
    the console, and whether the command prints JSON."""

    def __init__(self, yes=False, answers_path=None, console=None, json=False):
        self.yes, self.answers_path, self.console, self.json = bool(yes), answers_path, console, bool(json)

    @classmethod
    def of(cls, ctx):
        return cls(ctx.yes, getattr(ctx.args, "answers", None), ctx.console, ctx.json)


def interactive_ok(options):
    return sys.stdin.isatty() and sys.stdout.isatty() and not options.json


def report_dir(cfg):
    return os.path.join(cfg.paths["state_dir"], "precheck")


def finish(report, options, out, to_json=False):
    """Show the report (table and problems, or JSON on stdout), ask the open questions on a
    terminal, keep report.json (and the answers skeleton) and say where; the exit code.
    options: PrecheckOptions (None: no console, no questions)."""
    answers = options.answers_path if options else None
    if not to_json:
        report.print(options.console if options else None, out)
    if options is not None and interactive_ok(options):
        with view.paused():  # a run's live display steps aside while the operator answers
            answer_questions(report, interactive=True, given={})
    path, skeleton = report.write(report_dir(report.env.cfg), answers)
    if to_json:
        print(as_json(report))
    level, line = report.summary_line()
    out(level, line)
    say_files(out, report, path, skeleton, answers)
    return report.exit_code


def say_files(out, report, report_path, skeleton, answers_path):
    out("info", _("report: {path}").format(path=report_path))
    if report.unanswered() and not report.inhibitors():
        out("warning", _("answer with --yes, or fill in {skeleton} and run again with --answers {skeleton} "
                         "(before the command: bin/upgrade.sh --answers {skeleton} precheck|retry ...)").format(
            skeleton=skeleton or answers_path))
    elif skeleton:
        out("info", _("answers file to fill in: {path}").format(path=skeleton))


def as_json(report):
    return json.dumps(report.as_dict(), ensure_ascii=False, indent=2)
