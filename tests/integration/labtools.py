"""What the integration tests share: a controller with its own state, a terminal, and what they
share with the benches (tests/lab/nodestate.py: commands on the lab, the node fingerprint, the
exact state, the state checks; the lab is the one LAB_NAME/LAB_DIR name, as lab.sh does)."""
import configparser
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lab"))
# What the lab suites share with the benches (tests/lab/nodestate.py), re-exported for the test modules.
from nodestate import (  # noqa: E402,F401
    EXACT,
    LAB_DIR,
    LAB_NAME,
    TOP,
    diff,
    exact_state_env,
    fingerprint,
    node_names,
    sh,
    snapshot,
    ssh,
    state_check,
)
from soakcheck import run_measured  # noqa: E402

# Every command a Controller ran (soakcheck.Measured: rc, output, peak RSS, peak open files), in
# order: test_rollback.py applies the soak's checks to those of each upgrade -> rollback cycle.
MEASURED = []

UPGRADE = os.path.join(TOP, "bin", "upgrade.sh")
LAB = os.path.join(TOP, "tests", "lab", "lab.sh")

def install(version, mixed=None):
    """A fresh install of version on every node; mixed ("node1=2.1.0,node2=2.1.0"): those nodes then
    upgraded by hand, alone (install.sh --mixed)."""
    sh(os.path.join(TOP, "tests", "lab", "install.sh"), *(["--mixed", mixed] if mixed else []), version, timeout=900)


class Controller:
    """bin/upgrade.sh (or another tool of bin/, e.g. rollback_tool) with its own config and state directory."""

    def __init__(self, tmp_path, state_dir=None, **sections):
        self.state = state_dir or str(tmp_path / "state")
        ini = configparser.RawConfigParser()
        ini.optionxform = str
        ini.read(os.path.join(LAB_DIR, "upgrade.ini"), encoding="utf-8")
        self.lab_repo = ini.get("packages", "repo")  # the lab's package repository
        sections.setdefault("run", {"fault_injection": "on"})
        sections.setdefault("paths", {})["state_dir"] = self.state
        for name, values in sections.items():
            if not ini.has_section(name):
                ini.add_section(name)
            for key, value in values.items():
                ini.set(name, key, str(value))
        self.config = str(tmp_path / "upgrade.ini")
        with open(self.config, "w", encoding="utf-8") as f:
            ini.write(f)
        os.chmod(self.config, 0o600)

    tool = UPGRADE

    def argv(self, *args, lang="en"):
        return [self.tool, "--config", self.config, "--lang", lang] + list(args)

    def on_screen(self, width, lang, *args, expect=0):
        """The command on a real terminal (tmux, `width` columns): its Screen (frames, the end)."""
        shown = Screen(width).run(self.argv(*args, lang=lang))
        assert shown.rc == expect, "%s %s on a terminal: rc %s, expected %d\n%s" % (
            os.path.basename(self.tool), " ".join(args), shown.rc, expect, shown.text[-6000:])
        return shown

    def __call__(self, *args, expect=0):
        p = run_measured(self.argv(*args), timeout=1800)
        MEASURED.append(p)
        assert p.rc == expect, "%s %s: rc %d, expected %d\n%s" % (
            os.path.basename(self.tool), " ".join(args), p.rc, expect, p.output[-6000:])
        return p.output

    def json(self, *args, expect=0):
        """The JSON document a --json command prints on stdout (its log lines go to stderr)."""
        p = subprocess.run(self.argv("--json", *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=1800)
        assert p.returncode == expect, "%s --json %s: rc %d, expected %d\n%s" % (
            os.path.basename(self.tool), " ".join(args), p.returncode, expect, (p.stderr + p.stdout)[-6000:])
        return json.loads(p.stdout)

    def popen(self, *args):
        return subprocess.Popen(self.argv(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)

    def journal(self):
        cur = json.load(open(os.path.join(self.state, "current_run.json")))
        return json.load(open(cur["journal"]))

    def status(self):
        return self.json("status")["version_state"]


def cells(text):
    """Terminal columns of text: East Asian wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


class Screen:
    """A command run on a real terminal: a tmux server of its own (no user configuration), one pane
    WIDTH x HEIGHT; what the pane shows is sampled while the command runs (frames), then kept: the
    last screen, and everything it printed with the terminal's wrapped lines joined again (text)."""

    def __init__(self, width, height=45, every=0.5):
        self.width, self.height, self.every = width, height, every
        self.frames, self.last, self.text, self.rc = [], "", "", None

    def run(self, argv, timeout=1800):
        work = tempfile.mkdtemp(prefix="screen-")
        conf, done = os.path.join(work, "tmux.conf"), os.path.join(work, "rc")
        with open(conf, "w", encoding="utf-8") as f:
            f.write("set -g history-limit 200000\nset -g remain-on-exit on\nset -g status off\n")
        tmux = ["tmux", "-u", "-L", "screen%d" % os.getpid(), "-f", conf]
        env = dict(os.environ, LANG="C.UTF-8")
        env.pop("TMUX", None)
        line = "%s; echo $? > %s" % (" ".join(shlex.quote(a) for a in argv), shlex.quote(done))
        subprocess.check_call(tmux + ["new-session", "-d", "-s", "run", "-x", str(self.width), "-y",
                                      str(self.height), line], env=env)
        try:
            deadline = time.time() + timeout
            while not os.path.exists(done) and time.time() < deadline:
                self.frames.append(self.capture(tmux))
                time.sleep(self.every)
            self.last = self.capture(tmux)
            self.text = self.capture(tmux, "-J", "-S", "-")
            with open(done, encoding="utf-8") as f:
                self.rc = int(f.read().strip() or -1)
        finally:
            subprocess.call(tmux + ["kill-server"], stderr=subprocess.DEVNULL)
            shutil.rmtree(work, ignore_errors=True)
        return self

    @staticmethod
    def capture(tmux, *options):
        return subprocess.run(tmux + ["capture-pane", "-p", "-t", "run"] + list(options), stdout=subprocess.PIPE,
                              universal_newlines=True, check=True).stdout

    def assert_clean(self, marker):
        """No line of any frame or of the end wider than the pane; in each frame the live display
        at most once (`marker`: a line only the display has) and no transfer bar (node, file)
        twice: frames are redrawn in place, never stacked."""
        for shown in self.frames + [self.last]:
            wide = [ln for ln in shown.splitlines() if cells(ln) > self.width]
            assert not wide, "lines wider than %d columns:\n%s" % (self.width, "\n".join(wide))
            assert sum(1 for ln in shown.splitlines() if marker in ln) <= 1, "stacked frames:\n" + shown
            bars = [tuple(ln.split()[:2]) for ln in shown.splitlines() if "━" in ln]
            assert len(bars) == len(set(bars)), "a transfer bar twice on one screen:\n" + shown

    def words(self):
        """The whole output as single-spaced words: a sentence found whatever the terminal's width."""
        return " ".join(self.text.split())


def arm(node, step, fault):
    ssh(node, "mkdir -p /var/lib/drupgrade/faults && echo %s > /var/lib/drupgrade/faults/%s" % (fault, step))


def backups_verify(journal):
    for info in journal["hop_info"].values():
        for node in ("node1", "node2", "node3"):
            d = "/backup/%s" % info["backup_id"]
            out = ssh(node, "cd %s && sha256sum --strict -c SHA256SUMS && cat backup_manifest.json" % d).stdout
            manifest = json.loads(out[out.index("{"):])
            assert manifest["backup_status"] == "completed" and manifest["verification_passed"]
            for entry in manifest["backup_files"].values():
                size = ssh(node, "stat -c %%s %s/%s" % (d, entry["file"])).stdout.strip()
                assert int(size) == entry["size"], (node, entry)
            if node == "node1":
                assert "database_backup" in manifest["backup_files"]


# Everything a read-only command could change on a node: every file (path, type, mode, size, mtime,
# link target, sha256) under the tool's and the product's directories (/opt/drupgrade*, /opt/drp*,
# /etc), /tmp, /run, /backup, /var/lib/drupgrade and the product's local data, the entries of /opt,
# the tool's processes and every systemd unit's state. Left out: what any ssh login changes
# (/run/user, /run/systemd, /run/log, utmp, motd, /run's own mtime, the session and user units),
# /tmp's own mtime (a database server's temporary file of a catalog query, created and removed: the
# entries of /tmp are compared) and the status file drp-app rewrites every few seconds
# (/var/lib/drp/data/app).
NODE_STATE = r"""
set -u
shopt -s nullglob
deep=(/opt/drupgrade* /opt/drp /opt/drp-releases /etc /tmp /run /backup /var/lib/drupgrade /var/lib/drp/data)
skip='^/run/(user|systemd|log|utmp|motd\.dynamic)(/|$)|^/var/lib/drp/data/app(/|$)'
{
  find /opt -mindepth 1 -maxdepth 1 -printf 'entry %y %m %T@ %p\n'
  find "${deep[@]}" -xdev -printf '%y %m %s %T@ %p -> %l\n' 2>/dev/null | awk -v skip="$skip" '
    { path = $5; for (i = 6; i <= NF && $i != "->"; i++) path = path " " $i }
    path == "/run" || path == "/tmp" || path ~ skip { next } { print }'
} | LC_ALL=C sort -k5
find "${deep[@]}" -xdev -type f -print0 2>/dev/null | grep -zEv "$skip" | LC_ALL=C sort -z | xargs -0r sha256sum
ps -eo args= | grep -E '[d]rstep|[d]rupgrade|[d]rrun|[d]rcheck|[d]rprune' | LC_ALL=C sort | sed 's/^/process /'
systemctl list-units --all --no-legend --plain 2>/dev/null | awk '{print "unit", $1, $2, $3, $4}' |
  grep -Ev '^unit (session-[0-9]+\.scope|user@[0-9]+\.service|user-runtime-dir@[0-9]+\.service|user-[0-9]+\.slice) ' |
  LC_ALL=C sort
"""


def chromium(page, *args):
    """Headless Chromium (tests/prereqs.sh installs it) on a local page, no network, a fresh profile:
    its stdout (--dump-dom: the DOM as the browser built it)."""
    import shutil
    import tempfile
    browser = shutil.which("chromium")
    assert browser, "chromium is missing: tests/prereqs.sh installs it"
    profile = tempfile.mkdtemp(prefix="drupgrade-chromium-")
    try:
        p = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                            "--disable-background-networking", "--disable-component-update", "--disable-sync",
                            "--user-data-dir=" + profile] + list(args) + ["file://" + os.path.abspath(page)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=180)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert p.returncode == 0, p.stderr[-3000:]
    return p.stdout


def node_state():
    """{node: NODE_STATE lines}: compare two with changes()."""
    return {n: ssh(n, NODE_STATE).stdout for n in node_names()}


def changes(before, after):
    """What differs between two node_state() results, line by line per node ('' if nothing)."""
    out = []
    for node in sorted(set(before) | set(after)):
        a, b = before.get(node, "").splitlines(), after.get(node, "").splitlines()
        sa, sb = set(a), set(b)
        out += ["%s: - %s" % (node, x) for x in a if x not in sb]
        out += ["%s: + %s" % (node, x) for x in b if x not in sa]
    return "\n".join(out)


def plugin_runs(journal):
    """{plugin: [(node, record), ...]} of every plugin run the journal holds, in order."""
    found = {}
    for entry in journal["results"].values():
        for rec in entry.get("plugins", []):
            found.setdefault(rec["plugin"], []).append((entry["node"], rec))
    for runs in found.values():
        runs.sort(key=lambda nr: (nr[0], nr[1]["attempt"]))
    return found
