"""The engine's hands: node steps through drstep (detached runs), and the controller's own steps.

The controller's own steps (packages, uploads, manifests) are declared beside the node steps,
by a header-only file each (scripts/steps/<phase>/NN-name.sh, `Runs: controller`); their work
is the method step_<name> here.
"""
import logging
import os
import re
import shutil
import tempfile
import threading
import time

from drupgrade import configmap, i18n, manifest, mixed, product, state, strategies, templates, timeouts
from drupgrade import journal as journal_mod
from drupgrade.errors import EXIT_FAILED, DrupgradeError
from drupgrade.i18n import N_, _
from drupgrade.log import safe
from drupgrade.ops import NodeOpsBase, RunLost
from drupgrade.transport import DetachedRunLost, owned, relay
from drupgrade.transport.quoting import join, quote

log = logging.getLogger("drupgrade.nodeops")
# What an upload did, in the operator's language (TransferResult.action).
UPLOAD_ACTIONS = {"uploaded": N_("uploaded"), "replaced": N_("replaced"), "resumed": N_("resumed"),
                  "skipped": N_("skipped: the node already has the same sha256")}
# Unpack the node tool ($2, top dir $3) into $1 through $1.new; the tool dir's marker names the
# package and its sha256 ($4). Directories without drupgrade's marker are never removed.
INSTALL_TOOL = r"""set -euo pipefail
d=$1 pkg=$2 top=$3 sha=$4
owned::adopt_tool_dir "$d"
owned::remove "$d.new"
owned::mark "$d.new" "created_by=drupgrade install_tool (staging)"
tar -C "$d.new" --no-same-owner -xzf "$pkg"
owned::mark "$d.new/$top" "created_by=drupgrade node tool" "package=${pkg##*/}" "sha256=$sha"
owned::remove "$d"
mv -- "$d.new/$top" "$d"
owned::remove "$d.new"
"""

# Write an env file on the node atomically: the text on stdin into $1.tmp, renamed over $1.
WRITE_ENV = 'mkdir -p -- "${1%/*}" && cat > "$1.tmp" && mv -f -- "$1.tmp" "$1"'
ENV_KEY = re.compile(r"^DR_[A-Z0-9_]+$")  # the keys drstep exports (drstep::load_context)
UPGRADE_HOP = re.compile(r"^hop([0-9]+)$")  # an upgrade run's hop (a rollback's steps are the hop "rollback")


def env_text(values):
    """KEY=VALUE lines of an env file. Only DR_* keys (drstep loads nothing else) and values on one
    line: a newline in a value would start a line of its own, a key nobody wrote."""
    bad = sorted(k for k, v in values.items() if not ENV_KEY.match(k) or any(c in str(v) for c in "\n\r\0"))
    if bad:
        raise DrupgradeError(_("refusing to write {keys} into a node's env file: a key must be DR_[A-Z0-9_]+ and "
                               "its value one line").format(keys=", ".join(bad)))
    return "".join("%s=%s\n" % (k, v) for k, v in sorted(values.items()))


def write_env(transport, node, path, values):
    """The env file `path` on `node` (context.env of a run, rollback.env of a rollback session),
    replaced atomically with `values`: what the node's steps, and drstep by hand, read."""
    res = transport.run(node, ["bash", "-c", WRITE_ENV, "drenv", path], stdin=env_text(values).encode("utf-8"))
    if res.rc != 0:
        raise DrupgradeError(_("cannot write {file} on node {node}: {detail}").format(
            file=path, node=node.name, detail=res.stderr.strip()), hint=_(
            "check on the node that its directory is writable and its filesystem not full (df -h), then run "
            "the command again"))


class NodeOps(NodeOpsBase):
    """Runs steps on nodes over the transport; one instance per run (the interface: ops.NodeOpsBase)."""

    def __init__(self, cfg, transport, journal, root, out, precheck=None):
        self.cfg = cfg
        self.t = transport
        self.journal = journal
        self.root = root
        self.out = out
        self.tool_dir = cfg.paths["node_tool_dir"]
        self.runs = {}  # (node, run_key) -> DetachedRun (keeps the log offset between waits)
        self.pending = {}  # (node, run_key) -> the command its first wait starts
        self.precheck = precheck  # precheck.PrecheckOptions of the command (--yes, --answers, console)
        self._precheck_env = None  # the precheck under way (step_precheck)
        self.holder = None  # the node-lock holder key this command claimed (drupgrade.nodelock)
        self.plugins = []  # the plugins shipped with the tool (drupgrade.plugins.Plugin)
        self._dist_lock = threading.Lock()
        self._dists = {}  # (hop, file) -> (relay.Distribution, its threading.Event): the one under way
        self.contexts = {}  # node name -> the hop whose context.env this command wrote there (write_context)

    # -- node steps -------------------------------------------------------------------------
    def _drstep(self, node, step, action, hop):
        # A step run or cleanup holds the node lock beside the runs (drstep: .lock, .lock.NAME).
        env = [("DRSTEP_LOCK_DIR", self.t.settings.node_run_dir)] + self.hop_context(node, hop)
        return ["env"] + ["%s=%s" % kv for kv in env + sorted(i18n.node_env().items())] + [
            self.tool_dir + "/bin/drstep", step.name, action]

    def hop_context(self, node, hop):
        """What tells drstep the context a step of `hop` must run in (DRSTEP_HOP=RUN/HOP: drstep refuses
        a missing context.env or another run's or hop's), once the node's context.env is this hop's:
        written by this command (write_context: the hop's upload_package, or earlier here), else now. A
        resume or retry thus never runs a step on what an earlier command left there, or on nothing
        (a tool dir unpacked again has none). A rollback's steps read the rollback.env that
        rollback_tool writes at the start of each of its commands: nothing to do for them."""
        m = UPGRADE_HOP.match(hop)
        if not m:
            return []
        if self.contexts.get(node.name) != hop:
            self.write_context(node, hop, tuple(self.journal.data["hops"][int(m.group(1)) - 1]))
        return [("DRSTEP_HOP", "%s/%s" % (self.journal.data["run_id"], hop))]

    def _run(self, node, run_key):
        key = (node.name, run_key)
        if key not in self.runs:
            self.runs[key] = self.t.detached(node, run_key)
        return self.runs[key]

    def start(self, node, steps, run_key, hop, versions, gates=(), nonce=""):
        """Steps in order as one run (`drstep chain`, +NAME for a step that waits at its gate).
        The run starts with the first wait: starting and following cost one ssh command. The
        run's marker nonce and the node-lock holder are in its script (sent on stdin, kept in the
        private run dir), never in an argv; drstep reads them and keeps them from the steps."""
        words = [self.tool_dir + "/bin/drstep", "chain"] + [("+" if s.name in gates else "") + s.name for s in steps]
        env = [("DRSTEP_NONCE", nonce), ("DRSTEP_HOLDER", self.holder or "")] + self.hop_context(node, hop) + sorted(
            i18n.node_env().items())
        self.pending[(node.name, run_key)] = "%s exec %s\n" % (
            " ".join("%s=%s" % (k, quote(v)) for k, v in env if v), join(words))

    def follow_with(self, node, run_key, conn_type):
        """Follow the run from now on over a connection of conn_type (design §4.6.1: `plugin` while
        a step with plugins runs, `control` otherwise): the next poll uses its keepalives and
        reconnect budget."""
        run = self._run(node, run_key)
        if run.session.conn_type != conn_type:
            run.session = self.t.session(node, conn_type)

    def open_gate(self, node, run_key, name):
        self._run(node, run_key).open_gate(name)

    def stop_run(self, node, run_key):
        """The run ends before its next step (a step under way finishes)."""
        self._run(node, run_key).open_gate("stop")

    def wait(self, node, run_key, seconds, sink):
        command = self.pending.pop((node.name, run_key), None)
        try:
            res = self._run(node, run_key).wait(on_output=sink, timeout=seconds, command=command)
        except DetachedRunLost as e:
            raise RunLost(str(e)) from None
        return None if res.still_running else res.rc

    def settle(self, node, run_key):
        """The run ended for good on the node, confirmed (DetachedRun.stop): what it took."""
        self.pending.pop((node.name, run_key), None)  # never started later either
        info = self._run(node, run_key).stop()
        log.debug("node %s, run %s: %s", node.name, run_key, info)
        return info

    def check(self, node, step, hop):
        if step.local:
            return False
        return self.t.run(node, self._drstep(node, step, "check", hop)).rc == 0

    def cleanup(self, node, step, hop):
        if step.local:
            return
        res = self.t.run(node, self._drstep(node, step, "cleanup", hop), timeout=step.timeout)
        if res.rc != 0:
            raise DrupgradeError(_("cleanup of {step} failed on node {node}: {detail}").format(
                step=step.name, node=node.name, detail=(res.stderr or res.stdout).strip()[-400:]))

    def resources(self, node, step):
        res = self.t.run(node, [self.tool_dir + "/bin/drcontext", "summary", step.kind, step.subject],
                         timeout=30)
        return timeouts.parse_summary(res.stdout if res.rc == 0 else "")

    def context(self, node, step, run_key):
        log_file = "%s/%s/log" % (self.t.settings.node_run_dir, run_key)
        res = self.t.run(node, [self.tool_dir + "/bin/drcontext", "full", log_file], timeout=60)
        return safe(res.stdout + res.stderr)  # drcontext masks passwords already: this is the second net

    def latency_ms(self, node):
        t0 = time.time()
        self.t.run(node, ["true"], timeout=30)
        return int((time.time() - t0) * 1000)

    # -- the controller's own steps ---------------------------------------------------------
    def local(self, node, step, hop, versions):
        return getattr(self, "step_" + step.name)(node, hop, versions)

    def cancel_local(self, node, step):
        if step.name == "precheck" and self._precheck_env is not None:
            from drupgrade import precheck
            precheck.cancel(self._precheck_env)

    def package_path(self, version):
        from drupgrade import packages
        return packages.package_path(self.cfg, version)

    def leftovers(self, version):
        """What a hop to version leaves on a node besides its run dirs and its backup: the uploaded
        package files and the unpacked package (named as write_context tells the node steps)."""
        pkg = self.cfg.paths["node_package_dir"] + "/" + os.path.basename(self.package_path(version))
        files = [pkg, pkg + ".part", pkg + ".sha256", pkg + ".sha256.part"]
        unpacked = strategies.unpack_dir(product.of(self.cfg), version)
        return files, [unpacked, unpacked + ".config"]  # .config: the mapped config files (configmap)

    def tool_package(self):
        from drupgrade import __version__
        name = "drupgrade-node-%s.tar.gz" % __version__
        for d in (os.path.join(self.root, "share", "node"), os.path.join(self.root, "build", "dist")):
            if os.path.exists(os.path.join(d, name)):
                return os.path.join(d, name)
        raise DrupgradeError(_("the node tool package {name} is missing beside the controller").format(
            name=name), hint=_("unpack the complete drupgrade tarball again (or run 'make build')"))

    def step_load_packages(self, node, hop, versions):
        """The packages were verified when the command started, before the journal or any node
        (Runner.verify_packages): the journal holds the sha256 of each, which the nodes check."""
        verified = self.journal.data.get("packages") or {}
        for _src, dst in self.journal.data["hops"]:
            if dst not in verified:
                raise DrupgradeError(_("run {run} has no verified package for {version}").format(
                    run=self.journal.data["run_id"], version=dst), hint=_("start the run again"))
        self.tool_package()
        return 0

    def step_load_nodes(self, node, hop, versions):
        found = product.of(self.cfg).installed_version(self.t, node) or "none"
        expected = self.journal.data["versions_before"].get(node.name)
        if found != expected:
            raise DrupgradeError(_("node {node} runs {found}, but the run was planned from {expected}").format(
                node=node.name, found=found, expected=expected), hint=_("run 'upgrade.sh plan' again"))
        return 0

    def write_context(self, node, hop, versions):
        """The node-local context.env: what the steps (and an operator with drstep) need to know."""
        src, dst = versions or self.journal.data["hops"][0]
        prod = product.of(self.cfg)
        info = self.journal.data.get("hop_info", {}).get(hop, {})
        pkg_dir = self.cfg.paths["node_package_dir"]
        values = {
            "DR_NODE": node.name, "DR_ROLES": ",".join(node.roles), "DR_RUN_ID": self.journal.data["run_id"],
            "DR_PRODUCT": prod.name,
            "DR_HOP": hop, "DR_FROM": src, "DR_TO": dst, "DR_TOOL_DIR": self.tool_dir,
            "DR_PACKAGE": "%s/%s" % (pkg_dir, prod.package_name(dst)),
            "DR_BACKUP_ROOT": self.cfg.paths["node_backup_dir"],
            # what the node checks the bytes it received against: the hash of the verified file
            "DR_PACKAGE_SHA256": (self.journal.data.get("packages") or {}).get(dst, {}).get("sha256", ""),
            "DR_BACKUP_ID": info.get("backup_id", ""), "DR_WORK_DIR": strategies.WORK_DIR,
            "DR_STATE_DIR": "/var/lib/drupgrade/node-state", "DR_FAULT_INJECTION": self.cfg.run["fault_injection"],
            "DR_PACKAGE_BYTES": str(max([os.path.getsize(self.package_path(d))
                                         for _s, d in self.journal.data["hops"]] or [0])),
        }
        # What the hop's strategy fills the steps with (scripts/lib/component.sh reads it).
        strategy, bound = strategies.for_hop(prod.name, self.root, src, dst)
        values["DR_STRATEGY"] = strategy.id
        values.update(strategies.node_env(prod, bound, node.roles))
        values.update(prod.check_context(node.roles))  # drcheck by hand
        write_env(self.t, node, self.tool_dir + "/context.env", values)
        self.contexts[node.name] = hop

    def step_upload_tool(self, node, hop, versions):
        self.install_tool(node)
        self.write_context(node, "hop1", None)
        return 0

    def install_tool(self, node):
        """Upload and unpack the node tool package (a stale unpacked tool dir is removed first).
        Only directories drupgrade created are removed (scripts/lib/owned.sh): the new tool dir
        gets the marker, naming the package and its sha256 (what read-only commands compare)."""
        pkg = self.tool_package()
        staging = self.tool_dir + ".pkg"
        self.t.transfer.upload_tool_package(pkg, staging, node, self.tool_dir)
        top = os.path.basename(pkg)[:-len(".tar.gz")]
        res = self.t.run(node, ["bash", "-c", owned.script(INSTALL_TOOL), "drunpack", self.tool_dir,
                                staging + "/" + os.path.basename(pkg), top, self.t.transfer.local_sha256(pkg)])
        if res.rc == owned.REFUSED:
            raise owned.NotOwned(node.name, owned.refused_path(res.stderr) or self.tool_dir, "node_tool_dir")
        if res.rc != 0:
            raise DrupgradeError(_("cannot unpack the tool package on node {node}: {detail}").format(
                node=node.name, detail=res.stderr.strip()))
        self.ship_plugins(node)

    def ship_plugins(self, node):
        """The plugins of this run (self.plugins, drupgrade.plugins) into the tool dir just
        installed, each with its plugin.env: a tool upload never loses them."""
        if not self.plugins:
            return
        from drupgrade import plugins
        hide = plugins.hidden(self.cfg, product.of(self.cfg))
        unconfined = self.cfg.section("plugins").get("allow_unconfined") == "yes"
        with tempfile.TemporaryDirectory(prefix="drupgrade-plugins.") as tmp:
            for p in self.plugins:
                dst = os.path.join(tmp, p.name)
                shutil.copytree(p.dir, dst)
                with open(os.path.join(dst, plugins.NODE_ENV), "w", encoding="utf-8") as f:
                    f.write(env_text(p.node_env(hide, unconfined)))
            self.t.transfer.upload_directory(tmp, self.tool_dir + "/plugins", node)

    def step_precheck(self, node, hop, versions):
        """Phase 3 (design §4.2.4): the report of drupgrade.precheck; rc 0, 3 (inhibitor) or 4 (answer)."""
        from drupgrade import precheck
        options = self.precheck or precheck.PrecheckOptions()
        data = self.journal.data
        env = precheck.Env(self.cfg, self.t, self.root, target=data["target"],
                           versions_before=data.get("versions_before"), hops=[tuple(h) for h in data["hops"]])
        self._precheck_env = env  # cancel_local
        report = precheck.run(env, yes=options.yes, answers_path=options.answers_path)
        code = precheck.finish(report, self.precheck, self.out)
        log_dir = os.path.join(self.cfg.paths["state_dir"], "logs", data["run_id"], node.name)
        os.makedirs(log_dir, exist_ok=True)
        with open(os.path.join(log_dir, "precheck.log"), "w", encoding="utf-8") as f:
            f.write("".join(line + "\n" for _level, line in report.problem_lines() + [report.summary_line()]))
        return code

    def step_upload_package(self, node, hop, versions):
        path = self.package_path(versions[1])
        remote = self.cfg.paths["node_package_dir"]
        result = self.distribute(path, remote, node, hop)
        want = (self.journal.data.get("packages") or {}).get(versions[1], {}).get("sha256")
        if result.sha256 != want:  # replaced after it was verified: the node would refuse it anyway
            raise DrupgradeError(_("package {file} changed after it was verified: its sha256 was {want}, the "
                                   "uploaded file has {got}").format(file=path, want=want, got=result.sha256),
                                 hint=_("put the verified package back (or start a new run), then: "
                                        "bin/upgrade.sh retry"))
        action = _(UPLOAD_ACTIONS.get(result.action, result.action))
        if result.method == "relay":
            self.journal.note(hop, "upload_package", node, relay=result.relay)
            self.out("info", _("{node}: {file} {action} (relayed by {relay})").format(
                node=node.name, file=os.path.basename(path), action=action, relay=result.relay))
        else:
            self.out("info", _("{node}: {file} {action} ({method})").format(
                node=node.name, file=os.path.basename(path), action=action, method=result.method))
        self.map_configs(node, versions)
        self.write_context(node, hop, versions)
        return 0

    def distribute(self, path, remote, node, hop):
        """The package onto node: through a relay inside the site when [transfer] distribution says
        so (drupgrade.transport.relay: the file crosses the controller's link once), else straight
        from the controller. The nodes' upload steps run side by side: the first to come runs the
        distribution for every node of the hop that has not got the file yet in this run; the others
        wait for it and take their own result (a retry starts a new one for the nodes left)."""
        targets = [n for n in self.cfg.nodes if mixed.upgraded_in(self.journal.data, hop, n.name)
                   and self.journal.result(hop, "upload_package", n).status != journal_mod.OK]
        if node not in targets:
            targets.append(node)
        mode = self.cfg.transfer.get("distribution", "auto")
        if not relay.use_relay(mode, len(targets), os.path.getsize(path)):
            return self.t.transfer.upload_package(path, remote, node)
        with self._dist_lock:
            current = self._dists.get((hop, path))
            if current is None or node.name not in current[0].pending:
                dist = relay.Distribution(self.t, path, remote, targets, self.journal.data["run_id"],
                                          self.cfg.run["max_parallel"])
                current = self._dists[(hop, path)] = (dist, threading.Event())
                owner = True
            else:
                owner = False
        dist, done = current
        if owner:
            try:
                dist.run()
            finally:
                done.set()
        done.wait()
        with self._dist_lock:
            dist.pending.discard(node.name)
        result = dist.results.get(node.name)
        if result is None:
            raise DrupgradeError(_("node {node} got no copy of {file} from the distribution").format(
                node=node.name, file=os.path.basename(path)),
                hint=_("apply the retry policy with 'bin/upgrade.sh retry'"))
        if isinstance(result, BaseException):
            raise result
        return result

    def map_configs(self, node, versions):
        """The config files the hop's strategy maps (component service/config) mapped here, on the
        controller, and put on the node for its step (configmap.prepare)."""
        prod = product.of(self.cfg)
        _strategy, bound = strategies.for_hop(prod.name, self.root, versions[0], versions[1])
        for b in bound.values():
            if b.component == configmap.COMPONENT and prod.runs_step(b.step, node.roles):
                if configmap.prepare(self.t, node, b, self.journal.data["run_id"]):
                    self.out("info", _("{node}: {file} mapped for {step} ({mapping})").format(
                        node=node.name, file=b.params["file"], step=b.step,
                        mapping=templates.text(b.params["mapping"])))

    def step_collect_manifest(self, node, hop, versions):
        backup_id = self.journal.data["hop_info"][hop]["backup_id"]
        remote = "%s/%s/backup_manifest.json" % (self.cfg.paths["node_backup_dir"], backup_id)
        text, why = manifest.read_remote(self.t, node, remote)
        data, why = manifest.parse(text, backup_id) if why is None else (None, why)
        if data is not None and (data["backup_status"] != "completed" or not data["verification_passed"]):
            why = _("the backup is not complete (backup_status {status}, verification_passed {passed})").format(
                status=data["backup_status"], passed=data["verification_passed"])
        if why:
            raise DrupgradeError(_("the backup manifest {file} on node {node} is missing or invalid: {reason}").format(
                file=remote, node=node.name, reason=why), code=EXIT_FAILED,
                hint=_("check the file on the node (the log of its backup_local step says how it was made); "
                       "'bin/upgrade.sh retry' collects it again"))
        local = os.path.join(self.cfg.paths["state_dir"], "backups", backup_id, node.name + ".json")
        state.atomic_write_json(local, data)
        return 0
