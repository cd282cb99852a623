"""The controller tarball installs and runs with no network at all, on old and new Pythons.

Takes build/dist/drupgrade-<version>.tar.gz (or $DRUPGRADE_DIST), unpacks it and runs
bin/upgrade.sh inside `unshare -n`. Skips when there is no tarball, unless
DRUPGRADE_REQUIRE_DIST is set (CI), where that is a failure.
"""
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import tarfile

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYENV = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
COMPILED = ("cryptography", "bcrypt", "pynacl", "cffi", "psutil")
# Oldest glibc of a control node: CentOS 7 (2.17). manylinux1 = 2.5, manylinux2010 = 2.12.
LEGACY_GLIBC = {"manylinux1": 5, "manylinux2010": 12, "manylinux2014": 17}

# Run inside the venv: every pin that applies to this Python is installed at its version.
CHECK_PINS = r"""
import json, subprocess, sys
from pip._vendor.packaging.requirements import Requirement
from pip._vendor.packaging.utils import canonicalize_name
out = subprocess.check_output([sys.executable, "-m", "pip", "list", "--format=freeze",
                               "--disable-pip-version-check"], universal_newlines=True)
installed = dict((canonicalize_name(l.split("==")[0]), l.split("==")[1])
                 for l in out.splitlines() if "==" in l)
bad, checked = [], 0
for path in sys.argv[1:]:
    for line in open(path).read().replace("\\\n", " ").splitlines():  # a pin and its --hash options
        line = line.split("#")[0].split(" --hash=")[0].strip()
        if not line:
            continue
        req = Requirement(line)
        if req.marker is not None and not req.marker.evaluate():
            continue
        checked += 1
        want, got = list(req.specifier)[0].version, installed.get(canonicalize_name(req.name))
        if want != got:
            bad.append("%s: pinned %s, installed %s" % (req.name, want, got))
print(json.dumps({"bad": bad, "checked": checked}))
"""


def find_dist():
    explicit = os.environ.get("DRUPGRADE_DIST")
    if explicit:
        return explicit if os.path.exists(explicit) else None
    found = [p for p in sorted(glob.glob(os.path.join(TOP, "build", "dist", "drupgrade-*.tar.gz")))
             if not os.path.basename(p).startswith("drupgrade-node-")]
    return found[-1] if found else None


def find_python(version):
    """Newest pyenv CPython `version`.x, else python<version> on PATH, else None."""
    pattern = re.compile(r"^{}(\.\d+)?$".format(re.escape(version)))
    dirs = [d for d in glob.glob(os.path.join(PYENV, "versions", version + "*"))
            if pattern.match(os.path.basename(d))]
    dirs.sort(key=lambda d: [int(x) for x in os.path.basename(d).split(".")])
    for d in reversed(dirs):
        for name in ("python" + version, "python"):
            exe = os.path.join(d, "bin", name)
            if os.access(exe, os.X_OK):
                return exe
    return shutil.which("python" + version)


def python_or_skip(version):
    exe = find_python(version)
    if exe is None:
        pytest.skip("python {} is not installed (pyenv or python{} on PATH)".format(version, version))
    return exe


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    dist = find_dist()
    if dist is None:
        if os.environ.get("DRUPGRADE_REQUIRE_DIST"):
            pytest.fail("no controller tarball build/dist/drupgrade-*.tar.gz: run `make dist` "
                        "(DRUPGRADE_REQUIRE_DIST is set, so this is a failure)")
        pytest.skip("no controller tarball build/dist/drupgrade-*.tar.gz: run `make dist` first "
                    "(set DRUPGRADE_REQUIRE_DIST to make this a failure)")
    dest = str(tmp_path_factory.mktemp("dist"))
    with tarfile.open(dist) as tar:
        tar.extractall(dest)
    tops = [os.path.dirname(os.path.dirname(p))
            for p in glob.glob(os.path.join(dest, "*", "bin", "upgrade.sh"))
            + glob.glob(os.path.join(dest, "bin", "upgrade.sh"))]
    assert len(tops) == 1, "{} holds no single bin/upgrade.sh".format(dist)
    return tops[0]


@pytest.fixture(scope="module")
def no_network():
    """The command prefix that runs a program with no network at all."""
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        try:
            if subprocess.call(prefix + ["true"], stderr=subprocess.DEVNULL) == 0:
                return prefix
        except OSError:
            break
    pytest.skip("cannot make a network namespace here (unshare -n needs root or user namespaces)")


def launch(no_network, root, args, python, venv=None, extra_env=None, cwd=None):
    """bin/upgrade.sh ARGS with a control node's clean environment (plus extra_env) and no network."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PIP_", "PYTHON", "DRUPGRADE_", "VIRTUAL_ENV"))}
    env.update(LANG="C.UTF-8", DRUPGRADE_PYTHON=python)
    if venv:
        env["DRUPGRADE_VENV"] = venv
    env.update(extra_env or {})
    return subprocess.run(no_network + [os.path.join(root, "bin", "upgrade.sh")] + list(args),
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=600, cwd=cwd)


def wheels(root):
    return sorted(os.listdir(os.path.join(root, "wheelhouse")))


def test_wheelhouse_has_both_architectures_for_compiled_packages(root):
    names = [w for w in wheels(root) if w.endswith(".whl")]
    for package in COMPILED:
        mine = [w for w in names if w.split("-")[0].lower().replace("_", "-") == package]
        for machine in ("x86_64", "aarch64"):
            assert any(machine in w for w in mine), "no {} wheel for {}".format(machine, package)
    for minor in range(6, 14):  # cffi has no abi3 wheel: one per CPython and machine
        for machine in ("x86_64", "aarch64"):
            assert any("-cp3{}-".format(minor) in w and machine in w
                       for w in names if w.startswith("cffi-")), (minor, machine)


def test_every_binary_wheel_runs_on_glibc_2_17(root):
    for name in wheels(root):
        if not name.endswith(".whl") or name.endswith("-any.whl"):
            continue
        oldest = []
        for plat in name[:-4].split("-")[-1].split("."):
            m = re.match(r"manylinux_2_(\d+)_", plat)
            oldest.append(int(m.group(1)) if m else LEGACY_GLIBC.get(plat.split("_")[0], 99))
        assert min(oldest) <= 17, name + " needs a newer glibc than CentOS 7's"


@pytest.mark.parametrize("version", ["3.6", "3.11", "3.13"])
def test_installs_offline_runs_and_reuses_the_venv(root, no_network, tmp_path, version):
    python = python_or_skip(version)
    # 3.11 takes the default venv place, $ROOT/.venv; the others are put elsewhere.
    venv = os.path.join(root, ".venv") if version == "3.11" else str(tmp_path / "venv")
    wheelhouse = os.path.join(root, "wheelhouse")

    first = launch(no_network, root, ["--help"], python,
                   venv=None if version == "3.11" else venv)
    assert first.returncode == 0, first.stderr
    assert "--config" in first.stdout
    assert "creating the Python environment" in first.stderr and wheelhouse in first.stderr
    assert os.path.isfile(os.path.join(venv, ".drupgrade-stamp"))
    assert not glob.glob(venv + ".tmp.*"), "the temp venv was left behind"

    check = subprocess.run(
        no_network + [os.path.join(venv, "bin", "python"), "-c", CHECK_PINS,
                      os.path.join(wheelhouse, "requirements.txt"),
                      os.path.join(wheelhouse, "pip.txt")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    assert check.returncode == 0, check.stderr
    result = json.loads(check.stdout)
    assert result["bad"] == [] and result["checked"] >= 10, result
    imports = subprocess.run(
        [os.path.join(venv, "bin", "python"), "-W", "ignore", "-c",
         "import pexpect, psutil, jsonschema, paramiko, rich"],
        stderr=subprocess.PIPE, universal_newlines=True)
    assert imports.returncode == 0, imports.stderr

    stamp = os.stat(os.path.join(venv, ".drupgrade-stamp"))
    second = launch(no_network, root, ["--version"], python,
                    venv=None if version == "3.11" else venv)
    assert second.returncode == 0, second.stderr
    assert "drupgrade" in second.stdout
    version_file = os.path.join(root, "VERSION")
    if os.path.exists(version_file):
        with open(version_file) as f:
            assert f.read().strip() in second.stdout
    assert "creating the Python environment" not in second.stderr
    again = os.stat(os.path.join(venv, ".drupgrade-stamp"))
    assert (again.st_ino, again.st_mtime) == (stamp.st_ino, stamp.st_mtime), "the venv was rebuilt"
    # The next start takes the fast path: the interpreter's real file is what the venv was made from.
    with open(os.path.join(venv, ".drupgrade-fast")) as f:
        fast = f.read()
    assert os.path.realpath(shutil.which(python) if os.sep not in python else python) in fast
    assert os.path.join(wheelhouse, "requirements.txt") in fast


def test_python_older_than_3_6_is_refused_in_both_languages(root, no_network, tmp_path):
    python = python_or_skip("2.7")
    found = subprocess.check_output(
        [python, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
        universal_newlines=True).strip()
    venv = str(tmp_path / "venv")
    r = launch(no_network, root, ["--help"], python, venv=venv)
    assert r.returncode == 2
    assert "太旧" in r.stderr and "需要 Python 3.6 或更高版本" in r.stderr, r.stderr
    assert "too old" in r.stderr and "Python 3.6 or newer is needed" in r.stderr, r.stderr
    assert "Python " + found in r.stderr, r.stderr
    assert not os.path.exists(venv)


def test_python_without_the_venv_module_names_the_package(root, no_network, tmp_path):
    python = find_python("3.11") or find_python("3.13") or python_or_skip("3.6")
    # Debian's python3 without python3-venv: `import ensurepip` fails.
    shadow = tmp_path / "shadow" / "ensurepip"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ImportError('No module named ensurepip (python3-venv is not installed)')\n")
    wrapper = tmp_path / "python3"
    wrapper.write_text('#!/bin/sh\nPYTHONPATH="{}" exec "{}" "$@"\n'.format(shadow.parent, python))
    wrapper.chmod(0o755)
    venv = str(tmp_path / "venv")
    r = launch(no_network, root, ["--help"], str(wrapper), venv=venv)
    assert r.returncode == 2
    assert "python3-venv" in r.stderr, r.stderr
    assert "缺少 venv/ensurepip 模块" in r.stderr and "lacks the venv/ensurepip modules" in r.stderr
    assert not os.path.exists(venv)


def test_a_failed_install_leaves_no_venv_behind(root, no_network, tmp_path):
    python = find_python("3.11") or find_python("3.13") or python_or_skip("3.6")
    # A copy of the tarball's tree whose wheelhouse lacks paramiko: the install must fail.
    broken = tmp_path / "broken"
    for part in ("bin", "lib"):
        shutil.copytree(os.path.join(root, part), str(broken / part), symlinks=True)
    (broken / "wheelhouse").mkdir()
    for name in wheels(root):
        if not name.startswith("paramiko-"):
            os.symlink(os.path.join(root, "wheelhouse", name), str(broken / "wheelhouse" / name))
    venv = str(tmp_path / "venv")
    r = launch(no_network, str(broken), ["--help"], python, venv=venv)
    assert r.returncode == 2
    assert "could not install the dependencies" in r.stderr and "无法从" in r.stderr, r.stderr
    assert not os.path.exists(venv)
    assert not glob.glob(venv + ".tmp.*"), "the temp venv was left behind"


def wheelhouse_copy(root, dest, change=None, sums=False):
    """A copy of the tarball's bin/, lib/ and wheelhouse/ (wheels linked) in dest. change: {name:
    function(path)} applied to a real copy of that wheelhouse file; sums: rewrite SHA256SUMS after
    the change, as someone who replaced a wheel would."""
    for part in ("bin", "lib"):
        shutil.copytree(os.path.join(root, part), os.path.join(dest, part), symlinks=True)
    wh = os.path.join(dest, "wheelhouse")
    os.mkdir(wh)
    for name in wheels(root):
        src, dst = os.path.join(root, "wheelhouse", name), os.path.join(wh, name)
        if change and name in change:
            shutil.copy(src, dst)
            change[name](dst)
        elif name == "SHA256SUMS" or name.endswith(".txt"):
            shutil.copy(src, dst)
        else:
            os.symlink(src, dst)
    if sums:
        with open(os.path.join(wh, "SHA256SUMS"), "w") as out:
            for name in sorted(os.listdir(wh)):
                if name.endswith((".whl", ".txt")):
                    with open(os.path.join(wh, name), "rb") as f:
                        out.write("%s  %s\n" % (hashlib.sha256(f.read()).hexdigest(), name))
    return dest


def paramiko_wheel(root):
    return [n for n in wheels(root) if n.startswith("paramiko-")][0]


def append_byte(path):
    with open(path, "ab") as f:
        f.write(b"\0")


def test_the_requirements_carry_a_hash_for_every_wheel(root):
    wh = os.path.join(root, "wheelhouse")
    text = open(os.path.join(wh, "requirements.txt")).read() + open(os.path.join(wh, "pip.txt")).read()
    for name in wheels(root):
        if name.endswith(".whl"):
            with open(os.path.join(wh, name), "rb") as f:
                assert "--hash=sha256:" + hashlib.sha256(f.read()).hexdigest() in text, name
    pins = [line for line in text.replace("\\\n", " ").splitlines() if line and not line.startswith("#")]
    assert len(pins) >= 40 and all("--hash=sha256:" in line for line in pins), pins
    check = subprocess.run(["sha256sum", "--strict", "--quiet", "-c", "SHA256SUMS"], cwd=wh)
    assert check.returncode == 0


def test_a_changed_wheel_stops_the_install_naming_it(root, no_network, tmp_path):
    python = find_python("3.11") or find_python("3.13") or python_or_skip("3.6")
    wheel = paramiko_wheel(root)
    tree = wheelhouse_copy(root, str(tmp_path / "tree"), change={wheel: append_byte})
    venv = str(tmp_path / "venv")
    r = launch(no_network, tree, ["--help"], python, venv=venv)
    assert r.returncode == 2
    assert "error: %s in the wheelhouse does not match" % wheel in r.stderr, r.stderr
    assert "错误：wheelhouse 中的 %s 与" % wheel in r.stderr and "不符" in r.stderr, r.stderr
    assert "creating the Python environment" in r.stderr and not os.path.exists(venv)
    assert not glob.glob(venv + ".tmp.*"), "the temp venv was left behind"


@pytest.mark.parametrize("how", ["changed wheel", "requirements without hashes"])
def test_pip_requires_the_hashes_even_when_sha256sums_was_rewritten(root, no_network, tmp_path, how):
    """SHA256SUMS travels with the wheels; the hashes of the requirements are the second line of defence,
    and --require-hashes refuses a requirement that has none."""
    python = find_python("3.11") or find_python("3.13") or python_or_skip("3.6")
    wheel = paramiko_wheel(root)

    def strip_hashes(path):
        with open(path) as f:
            text = re.sub(r" \\\n\s+--hash=sha256:[0-9a-f]+", "", f.read())
        with open(path, "w") as f:
            f.write(text)

    change = {wheel: append_byte} if how == "changed wheel" else {"requirements.txt": strip_hashes}
    tree = wheelhouse_copy(root, str(tmp_path / "tree"), change=change, sums=True)
    if how != "changed wheel":
        assert "--hash" not in open(os.path.join(tree, "wheelhouse", "requirements.txt")).read()
    venv = str(tmp_path / "venv")
    r = launch(no_network, tree, ["--help"], python, venv=venv)
    assert r.returncode == 2, r.stderr
    expected = {"changed wheel": "THESE PACKAGES DO NOT MATCH THE HASHES",
                "requirements without hashes": "Hashes are required in --require-hashes mode"}[how]
    assert expected in r.stderr and "could not install the dependencies" in r.stderr, r.stderr
    assert not os.path.exists(venv)
def test_a_venv_whose_interpreter_vanished_is_rebuilt(root, no_network, tmp_path):
    """Made through a path that is later removed (a pyenv version uninstalled, python3 replaced):
    bin/python dangles, while the interpreter found next time is the very same file."""
    python = find_python("3.11") or find_python("3.13") or python_or_skip("3.6")
    gone = tmp_path / "gone"
    gone.mkdir()
    os.symlink(os.path.realpath(python), str(gone / "python3"))
    venv = str(tmp_path / "venv")
    first = launch(no_network, root, ["--version"], str(gone / "python3"), venv=venv)
    assert first.returncode == 0, first.stderr
    shutil.rmtree(str(gone))
    assert os.path.lexists(os.path.join(venv, "bin", "python"))
    assert not os.path.exists(os.path.join(venv, "bin", "python")), "bin/python should dangle now"
    again = launch(no_network, root, ["--version"], python, venv=venv)
    assert again.returncode == 0, again.stderr
    assert "drupgrade" in again.stdout
    assert "the interpreter of %s is gone: rebuilding it" % venv in again.stderr
    assert "creating the Python environment" in again.stderr
    assert os.path.exists(os.path.join(venv, "bin", "python"))
    third = launch(no_network, root, ["--version"], python, venv=venv)
    assert third.returncode == 0 and "creating the Python environment" not in third.stderr


def test_a_callers_pythonpath_cannot_shadow_the_venvs_packages(root, no_network, tmp_path):
    """A PYTHONPATH (or current) directory with its own jsonschema and paramiko, e.g. after `su`
    without `-`, and a PYTHONHOME that would break any interpreter that honours it."""
    python = find_python("3.11") or find_python("3.13") or python_or_skip("3.6")
    shadow = tmp_path / "shadow"
    for name in ("jsonschema", "paramiko", "rich", "drupgrade"):
        (shadow / name).mkdir(parents=True)
        (shadow / name / "__init__.py").write_text("raise ImportError('SHADOWED {} from PYTHONPATH')\n".format(name))
    venv = str(tmp_path / "venv")
    hostile = {"PYTHONPATH": str(shadow), "PYTHONHOME": str(tmp_path / "no-such-home")}
    # The first start builds the venv (interpreter probe, pip), the next ones take the fast path,
    # from a current directory that holds the same packages.
    for env, cwd in ((hostile, None), (hostile, str(shadow)), ({"PYTHONPATH": str(shadow)}, str(shadow))):
        r = launch(no_network, root, ["--lang", "en", "steps"], python, venv=venv, extra_env=env, cwd=cwd)
        assert r.returncode == 0, r.stderr
        assert "SHADOWED" not in r.stdout + r.stderr
        assert "unzip" in r.stdout and "precheck" in r.stdout


def test_the_tarball_carries_bash_completion_of_both_tools_that_completes(root, tmp_path):
    """share/bash-completion/completions/{upgrade.sh,rollback_tool}, generated at `make dist` from the
    tools' command-line definitions: sourced in bash, they complete commands, options after a command
    and global options (docs/install.md, Bash completion)."""
    cases = {"upgrade.sh": [("upgrade.sh pl", "plan plugins"), ("bin/upgrade.sh plan --to 2.2.0 --js", "--json"),
                            ("upgrade.sh --lang zh lo", "logs"), ("upgrade.sh plan --mode j", "jump")],
             "rollback_tool": [("rollback_tool li", "list"), ("rollback_tool list --ins", "--install-tool")]}
    for prog, lines in cases.items():
        path = os.path.join(root, "share", "bash-completion", "completions", prog)
        assert os.path.isfile(path), path
        for line, expected in lines:
            script = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); '
                      'spec=$(complete -p "${COMP_WORDS[0]##*/}"); spec=${spec% *}; "${spec##* }"; '
                      'echo "${COMPREPLY[*]}"')  # the function `complete` registered for the tool
            p = subprocess.run(["bash", "-c", script, "x", path] + line.split(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, universal_newlines=True, cwd=str(tmp_path))
            assert (p.returncode, p.stdout.strip(), p.stderr) == (0, expected, ""), (line, p.stderr)
