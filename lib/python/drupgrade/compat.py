"""Compatibility checks before a hop (design §4.7.2.2), read on the live cluster.

The checks are data: products/<name>/compat.json (schemas/compat.json), each of one of the five
kinds of the design, applying to the hops whose source and target fall in its ranges, on the nodes
of its roles. This module is the one generic checker: it runs each check's command on the nodes
over the transport and compares what the node says with what the check declares.

- database_structure: `client` (a command reading SQL on stdin, printing tab-separated rows) of
  `dialect` mariadb or sqlite lists the live tables' columns (type, NOT NULL) and indexes; every
  table named must have exactly the columns and indexes declared (tolerated_columns: extra
  columns the hop's migrations take as they are).
- configuration: the node's `file` in `format` (ini, json, env: configmap's parsers) has every
  key of required_keys and none of absent_keys (dotted keys).
- api: `command` prints the running service's version (`pattern`, group 1); it must be the hop's
  source, and the hop's target must declare every API version the source declares (`declared`).
- dependency: `command` prints a component's version (`pattern`, group 1); minimum <= it < below.
- data_format: `client` answers `query` with one value a row; every value must be in `allowed`.

A check that reads the product's state is read live only where that state is at the hop's source:
on a node that runs the source version (each node its own: a mixed cluster's nodes differ), or,
for a check that declares `state_version` (a command printing the version of the state it reads,
e.g. the database's schema version, which a mixed cluster's primary may have ahead of the node),
where that state is. Elsewhere it is reported as skipped with the reason: a state behind the
source is written by the plan's earlier hops (each hop's postcheck verifies it), a state ahead of
it has nothing left for the hop to change. A hop is checked on the nodes it upgrades (`scope`, set
by mixed.plan_cluster for a catch-up hop). Dependency checks, which do not depend on the product's
version, run for every hop.
"""
import base64
import os
import re

from drupgrade import config, configmap, fanout, templates, versions
from drupgrade.errors import EXIT_PRECHECK, DrupgradeError
from drupgrade.i18n import _, pick
from drupgrade.transport.result import CommandResult

FILE = "compat.json"
PASS, FAIL, SKIP = "pass", "fail", "skip"
LIVE_KINDS = ("database_structure", "configuration", "api", "data_format")  # read the product's state
CATALOG_SQL = {
    "mariadb": (
        "SELECT 'C', TABLE_NAME, COLUMN_NAME, CONCAT(COLUMN_TYPE, IF(IS_NULLABLE = 'NO', ' NOT NULL', ''))\n"
        "  FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE();\n"
        "SELECT 'I', TABLE_NAME, INDEX_NAME, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX)\n"
        "  FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() GROUP BY TABLE_NAME, INDEX_NAME;\n"),
    "sqlite": (
        "SELECT 'C', m.name, p.name, p.type || CASE WHEN p.\"notnull\" OR p.pk THEN ' NOT NULL' ELSE '' END\n"
        "  FROM sqlite_master m JOIN pragma_table_info(m.name) p WHERE m.type = 'table';\n"
        "SELECT 'I', m.name, l.name, (SELECT group_concat(name) FROM (SELECT i.name FROM pragma_index_info(l.name) i\n"
        "  ORDER BY i.seqno)) FROM sqlite_master m JOIN pragma_index_list(m.name) l WHERE m.type = 'table';\n"),
}
# Every command a node's checks may run, in one ssh command (Checker.read_ahead): each runs as it would
# alone (its stdin from base64, or none), all at once (`ask`: each in a process substitution of its own),
# and `answers` prints, in the order asked, one line each: its exit code, then its stdout and its stderr
# in base64. No file is written (a batch cut short leaves nothing on the node). A line short of those
# three fields means the batch did not get that far.
BATCH = r"""set -u
run() {
  if [ -n "$1" ]; then printf '%s' "$1" | base64 -d | bash -c "$2"; else bash -c "$2" < /dev/null; fi
}
one() {
  local out err rc
  eval "$({ err=$({ out=$(run "$1" "$2" | base64 -w0; exit "${PIPESTATUS[0]}"); rc=$?
                    declare -p out rc >&3; } 2>&1 | base64 -w0); declare -p err; } 3>&1)"
  printf '%d %s %s\n' "$rc" "$out" "$err"
}
fds=()
ask() {
  local f
  exec {f}< <(one "$1" "$2")
  fds+=("$f")
}
answers() {
  local f
  for f in "${fds[@]}"; do
    cat <&"$f"
  done
}
"""


def load(product):
    """The product's checks (a list of dicts; none when it has no compat.json), validated (exit 2)."""
    path = os.path.join(product.dir, FILE)
    if not os.path.exists(path):
        return []
    checks = config.load_json(path, "compat")["checks"]
    scope = {"product." + k: v for k, v in product.parameters.items()}
    for c in checks:
        for field in ("client", "file", "command", "state_version"):
            if field in c:
                c[field] = templates.text(templates.substitute(c[field], scope, path, "%s/%s" % (c["id"], field)))
    return checks


def applies(check, src, dst):
    a = check["applies"]
    return (versions.key(a["source_range"][0]) <= versions.key(src) <= versions.key(a["source_range"][1])
            and versions.key(a["target_range"][0]) <= versions.key(dst) <= versions.key(a["target_range"][1]))


def result(check, hop, node, outcome, detail):
    """One line of the plan's compatibility_checks."""
    return {"check": check["id"], "kind": check["kind"], "hop": "v%s -> v%s" % hop, "node": node,
            "result": outcome, "detail": detail}


# -- comparing what a node says with what a check declares (pure: unit-tested) ----------------------
def compare_structure(check, rows):
    """Problems of the live catalog rows [(C|I, table, name, definition)] against check["tables"]."""
    live = {}
    for row in rows:
        if len(row) < 4:
            continue
        kind, table, name, definition = row[:4]
        t = live.setdefault(table, {"C": {}, "I": {}})
        t[kind if kind in ("C", "I") else "C"][name] = definition
    problems = []
    for table, want in sorted(check["tables"].items()):
        if table not in live:
            problems.append(_("table {table} is missing").format(table=table))
            continue
        cols, idx = live[table]["C"], live[table]["I"]
        tolerated = want.get("tolerated_columns", {})
        for col, typ in sorted(want["columns"].items()):
            if col not in cols:
                problems.append(_("column {table}.{column} is missing").format(table=table, column=col))
            elif cols[col].lower() != typ.lower():
                problems.append(_("column {table}.{column} is {found}, expected {expected}").format(
                    table=table, column=col, found=cols[col], expected=typ))
        for col in sorted(set(cols) - set(want["columns"])):
            if col in tolerated and cols[col].lower() == tolerated[col].lower():
                continue
            problems.append(_("column {table}.{column} ({found}) is not part of this version's schema").format(
                table=table, column=col, found=cols[col]))
        if "indexes" in want:
            for name, columns in sorted(want["indexes"].items()):
                if name not in idx:
                    problems.append(_("index {table}.{index} is missing").format(table=table, index=name))
                elif idx[name] != ",".join(columns):
                    problems.append(_("index {table}.{index} is on ({found}), expected ({expected})").format(
                        table=table, index=name, found=idx[name], expected=",".join(columns)))
            for name in sorted(set(idx) - set(want["indexes"])):
                problems.append(_("index {table}.{index} ({found}) is not part of this version's schema").format(
                    table=table, index=name, found=idx[name]))
    return problems


def compare_configuration(check, text):
    data = configmap.parse(text, check["format"], check["file"])
    problems = [_("key {key} is missing").format(key=k) for k in check.get("required_keys", [])
                if not configmap.lookup(data, k)[0]]
    problems += [_("key {key} is set, the migration does not expect it").format(key=k)
                 for k in check.get("absent_keys", []) if configmap.lookup(data, k)[0]]
    return problems


def found_version(check, text):
    m = re.search(check["pattern"], text or "")
    return m.group(1) if m else None


def compare_api(check, hop, text):
    running = found_version(check, text)
    if running is None:
        return [_("no version in the service's answer {text!r}").format(text=(text or "").strip()[:80])]
    declared = {versions.normalize(v): apis for v, apis in check["declared"].items()}
    src, dst = hop
    problems = []
    if versions.normalize(running) != src:
        problems.append(_("the service answers as {found}, expected {expected}").format(found=running, expected=src))
    if src not in declared or dst not in declared:
        problems.append(_("no declared API versions for {version}").format(
            version=src if src not in declared else dst))
        return problems
    lost = [a for a in declared[src] if a not in declared[dst]]
    if lost:
        problems.append(_("{dst} drops the API {apis} that {src} serves").format(
            dst=dst, apis=", ".join(lost), src=src))
    return problems


def compare_dependency(check, text):
    v = found_version(check, text)
    if v is None:
        return [_("no version in {text!r}").format(text=(text or "").strip()[:80])], None
    key = tuple((list(map(int, re.findall(r"[0-9]+", v)[:3])) + [0, 0])[:3])  # systemd's "252": 252.0.0
    low = versions.key(check["minimum"])
    if key < low:
        return [_("version {found} is older than {minimum}").format(found=v, minimum=check["minimum"])], v
    if "below" in check and key >= versions.key(check["below"]):
        return [_("version {found} is not below {below}").format(found=v, below=check["below"])], v
    return [], v


def compare_data_format(check, rows):
    values = sorted({"\t".join(r) for r in rows})
    bad = [v for v in values if v not in check["allowed"]]
    if bad:
        return [_("{values} found, the migrations read only {allowed}").format(
            values=", ".join(bad), allowed=", ".join(check["allowed"]))], values
    return [], values


class Checker:
    """The checks of one plan on one cluster: check(hops) runs those of each hop on its nodes and
    returns the failed results; every result is kept in `results` (the plan's compatibility_checks)."""

    def __init__(self, cfg, transport, product, live_versions, checks=None):
        self.cfg = cfg
        self.transport = transport
        self.live = {n: versions.normalize(v) for n, v in live_versions.items()}  # {node: the version it runs}
        self.scope = None  # the names of the nodes the hops being checked upgrade (None: every node)
        self.checks = load(product) if checks is None else checks
        self.results = []
        self.fallback_reason = None  # set by versions.plan_path when a failed jump fell back
        self._seen = {}  # (hop, check id, node) -> result: a hop checked for the jump and again in a path
        self._answers = {}  # (node, command, stdin) -> CommandResult

    def check(self, hops):
        """Run the checks of `hops` [(src, dst), …] (each once per plan); the failed results."""
        todo = []
        for hop in hops:
            for c in self.checks:
                if applies(c, *hop):
                    todo += [(hop, c, n) for n in self.cfg.nodes
                             if (self.scope is None or n.name in self.scope)
                             and (not c.get("roles") or set(c["roles"]) & set(n.roles))]
        fresh = [t for t in todo if (t[0], t[1]["id"], t[2].name) not in self._seen]
        by_node = {}
        for t in fresh:
            by_node.setdefault(t[2].name, []).append(t)
        answers = fanout.by_node(self.cfg, lambda n: self._node_results(n, by_node[n.name]),
                                 [n for n in self.cfg.nodes if n.name in by_node])
        for name, rows in answers.items():
            for t, r in zip(by_node[name], rows):
                self._seen[(t[0], t[1]["id"], name)] = r
        self.results += [self._seen[(t[0], t[1]["id"], t[2].name)] for t in fresh]  # hop, check, node order
        return [self._seen[(t[0], t[1]["id"], t[2].name)] for t in todo
                if self._seen[(t[0], t[1]["id"], t[2].name)]["result"] == FAIL]

    def _node_results(self, node, todo):
        """The results of the checks `todo` ([(hop, check, node)]) on one node, its commands read ahead."""
        self.read_ahead(node, todo)
        return [self._one(*t) for t in todo]

    def read_ahead(self, node, todo):
        """Every command the checks `todo` may run on the node, read in one ssh command (BATCH) into
        the answers _run gives: the checks then cost one round trip per node, not one per command
        (a state version, a catalog, a file, a version each). What the batch could not answer (it
        failed, or a line is missing) is left for _run to ask on its own, as before."""
        wanted = []
        for _hop, c, _node in todo:
            commands = ([(self._state_command(c), None)] if "state_version" in c else []) + [self._command(c)]
            for words, stdin in commands:
                key = (node.name, tuple(words), stdin)
                if key not in self._answers and key not in [w[0] for w in wanted]:
                    wanted.append((key, words, stdin))
        if len(wanted) < 2:
            return
        from drupgrade.transport.quoting import join, quote
        script = BATCH + "".join("ask %s %s\n" % (
            quote(base64.b64encode(stdin.encode("utf-8")).decode("ascii") if stdin else ""), quote(join(words)))
            for _key, words, stdin in wanted) + "answers\n"
        res = self.transport.run(node, ["bash", "-c", script], timeout=60 + 10 * len(wanted))
        if res.rc != 0:
            return
        for (key, words, _stdin), line in zip(wanted, res.stdout.splitlines()):
            fields = line.split(" ")
            if len(fields) != 3 or not fields[0].isdigit():
                break
            out, err = (base64.b64decode(f).decode("utf-8", "replace") for f in fields[1:])
            self._answers[key] = CommandResult(node.name, join(words), int(fields[0]), out, err)

    @staticmethod
    def _state_command(c):
        """The words that print the version of the state the check reads (its state_version)."""
        return ["bash", "-c", c["state_version"]]

    @staticmethod
    def _command(c):
        """(words, stdin) of the check's own read on a node: the client with its SQL, the file, or the
        command."""
        if c["kind"] in ("database_structure", "data_format"):
            return ["bash", "-c", c["client"]], (
                CATALOG_SQL[c["dialect"]] if c["kind"] == "database_structure" else c["query"] + "\n")
        if c["kind"] == "configuration":
            return ["cat", "--", c["file"]], None
        return ["bash", "-c", c["command"]], None

    def _run(self, node, words, stdin=None):
        """One command on the node, each once per plan (a dependency is read once for every hop)."""
        cache_key = (node.name, tuple(words), stdin)
        if cache_key in self._answers:
            return self._answers[cache_key]
        res = self.transport.run(node, words, stdin=stdin, timeout=60)
        if res.ssh_failed:
            raise DrupgradeError(_("cannot reach node {node} for the compatibility checks: {reason}").format(
                node=node.name, reason=res.stderr.strip() or res.rc), hint=_(
                "check the network and the [ssh_config] of this node, then run the command again"))
        self._answers[cache_key] = res
        return res

    def _state_at(self, c, node):
        """(version of the state the check reads on the node, or None; why not when None)."""
        if "state_version" not in c:
            return self.live.get(node.name), None
        res = self._run(node, self._state_command(c))
        found = re.search(r"[0-9]+\.[0-9]+\.[0-9]+", res.stdout) if res.rc == 0 else None
        if found is None:
            return None, _("its version did not answer ({command}: {reason}): not read").format(
                command=c["state_version"], reason=(res.stderr.strip() or res.stdout.strip())[-160:] or res.rc)
        return found.group(0), None

    def _one(self, hop, c, node):
        kind = c["kind"]
        if kind in LIVE_KINDS:
            at, why = self._state_at(c, node)
            if why:  # stopped, say after a crashed run: the precheck's (its services check), not a failure here
                return result(c, hop, node.name, SKIP, why)
            if at != hop[0] and at is not None and versions.key(at) > versions.key(hop[0]):
                return result(c, hop, node.name, SKIP, _("its state is at {at} already, past {src}: this hop has "
                                                         "nothing of it left to change").format(at=at, src=hop[0]))
            if at != hop[0]:
                return result(c, hop, node.name, SKIP, _("this plan's earlier hops write {src}'s state, and their "
                                                         "postcheck verifies it").format(src=hop[0]))
        words, stdin = self._command(c)
        res = self._run(node, words, stdin=stdin)
        if kind in ("database_structure", "data_format"):
            if res.rc != 0:  # the database does not answer (stopped, say after a crashed run): not read now;
                # a stopped database is the precheck's (its services check), not a compatibility failure
                return result(c, hop, node.name, SKIP, _("the database did not answer ({command}: {reason}): not "
                                                         "read").format(command=c["client"],
                                                                        reason=res.stderr.strip()[-160:] or res.rc))
            rows = [line.split("\t") for line in res.stdout.splitlines() if line]
            if kind == "database_structure":
                problems, ok = compare_structure(c, rows), _("tables {tables}: as {version} has them").format(
                    tables=", ".join(sorted(c["tables"])), version=hop[0])
            else:
                problems, values = compare_data_format(c, rows)
                ok = ", ".join(values) or "-"
        elif kind == "configuration":
            if res.rc != 0:
                return result(c, hop, node.name, FAIL, _("cannot read {file}: {reason}").format(
                    file=c["file"], reason=res.stderr.strip()[-200:] or res.rc))
            try:
                problems = compare_configuration(c, res.stdout)
            except DrupgradeError as e:
                problems = [e.message]
            ok = _("{file}: {format}, the keys the migration reads").format(file=c["file"], format=c["format"])
        else:
            text = res.stdout + res.stderr
            if kind == "api" and res.rc != 0 and found_version(c, text) is None:
                # the service does not answer (stopped, say after a crashed run): its API cannot be read
                # now; a stopped service is the precheck's (its services check), not a compatibility failure
                return result(c, hop, node.name, SKIP, _("the service did not answer ({reason}): its API was not "
                                                         "read").format(reason=text.strip()[-120:] or res.rc))
            if kind == "api":
                problems = compare_api(c, hop, text)
                ok = _("{version} serves API {apis}; {dst} keeps them").format(
                    version=hop[0], apis=", ".join(c["declared"].get("v" + hop[0], c["declared"].get(hop[0], []))),
                    dst=hop[1])
            else:
                problems, found = compare_dependency(c, text)
                ok = _("{found} (needs >= {minimum})").format(found=found, minimum=c["minimum"])
        if problems:
            return result(c, hop, node.name, FAIL, "; ".join(problems))
        return result(c, hop, node.name, PASS, ok)

    def report(self, out):
        """The checks on the console of a run before it starts: the counts, and the fallback."""
        count = {k: sum(1 for r in self.results if r["result"] == k) for k in (PASS, FAIL, SKIP)}
        out("info", _("compatibility checks of the path: {passed} pass, {skipped} not read (the path's earlier hops "
                      "write that state)").format(passed=count[PASS], skipped=count[SKIP]))
        if self.fallback_reason:
            out("warning", _("fallback: {reason}").format(reason=self.fallback_reason))

    def describe(self, check_id):
        c = next(c for c in self.checks if c["id"] == check_id)
        return pick(c["description"], c["description_zh"]), pick(c["hint"], c["hint_zh"])

    def failure_lines(self, failed):
        """'check (kind: description) on node, hop: detail; what to do: hint' for each failed result."""
        out = []
        for r in failed:
            desc, hint = self.describe(r["check"])
            out.append(_("{check} ({kind}: {description}) on {node}, hop {hop}: {detail}; what to do: {hint}").format(
                check=r["check"], kind=r["kind"], description=desc, node=r["node"], hop=r["hop"], detail=r["detail"],
                hint=hint))
        return out

    def refused(self, failed, why, hint):
        """The exit-3 error of a plan the checks refuse (nothing was changed on any node)."""
        return DrupgradeError(why + "\n  " + "\n  ".join(self.failure_lines(failed)), code=EXIT_PRECHECK, hint=hint)
