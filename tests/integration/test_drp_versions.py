"""Every drp release installs fresh on the lab and passes the state-check suite (tests/infra).

One lab, reinstalled for each version (tests/lab/install.sh wipes the previous drp). The
packages are built from the current sources into a temporary directory first, so the test
never runs stale packages.
"""
import os
import subprocess
import sys

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(TOP, "packaging", "drp", "VERSIONS")) as _f:
    VERSIONS = [line.strip() for line in _f if line.strip() and not line.startswith("#")]  # every release


def run(args, env, timeout):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                       env=env, timeout=timeout, cwd=TOP)
    return p.returncode, p.stdout


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("drp-packages"))
    rc, log = run([os.path.join(TOP, "packaging", "drp", "build.sh"), out], dict(os.environ), 300)
    assert rc == 0, log
    return out


def test_every_release_was_built(packages):
    assert VERSIONS and sorted(f for f in os.listdir(packages) if f.endswith(".tar.gz")) == sorted(
        "drp-%s.tar.gz" % v for v in VERSIONS)


@pytest.mark.parametrize("version", VERSIONS)
def test_fresh_install_is_healthy(lab, packages, version):
    env = dict(lab.env, DRP_PACKAGES=packages)
    rc, log = run([os.path.join(TOP, "tests", "lab", "install.sh"), "--no-build", "v" + version], env, 600)
    assert rc == 0, "install of %s failed:\n%s" % (version, log[-6000:])
    rc, log = run([sys.executable, "-m", "pytest", os.path.join(TOP, "tests", "infra"), "-q",
                   "-p", "no:cacheprovider", "--drp-version", version, "--lab-dir", lab.dir], env, 600)
    assert rc == 0, "state checks for %s failed:\n%s" % (version, log[-8000:])
