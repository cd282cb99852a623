"""Every release of the second product arc installs fresh on the lab and passes its state checks
(tests/infra/test_arc_state.py), one install per version; at the end arc leaves the lab and the
lab's upgrade.ini points at drp again (tests/lab/install.sh --product arc --uninstall)."""
import os
import subprocess
import sys

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(TOP, "packaging", "arc", "VERSIONS")) as _f:
    VERSIONS = [line.strip() for line in _f if line.strip() and not line.startswith("#")]
INSTALL = os.path.join(TOP, "tests", "lab", "install.sh")


def run(args, env, timeout):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                       env=env, timeout=timeout, cwd=TOP)
    return p.returncode, p.stdout


@pytest.fixture(scope="module")
def packages(lab, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("arc-packages"))
    rc, log = run([os.path.join(TOP, "packaging", "arc", "build.sh"), out], dict(os.environ), 300)
    assert rc == 0, log
    yield out
    rc, log = run([INSTALL, "--product", "arc", "--uninstall"], dict(lab.env, DRP_PACKAGES=out), 300)
    assert rc == 0, "removing arc from the lab failed:\n%s" % log[-4000:]


def test_every_release_was_built(packages):
    assert len(VERSIONS) >= 3 and sorted(f for f in os.listdir(packages) if f.endswith(".tar.gz")) == sorted(
        "arc-%s.tar.gz" % v for v in VERSIONS)


@pytest.mark.parametrize("version", VERSIONS)
def test_fresh_install_is_healthy(lab, packages, version):
    env = dict(lab.env, DRP_PACKAGES=packages)
    rc, log = run([INSTALL, "--product", "arc", "--no-build", "v" + version], env, 600)
    assert rc == 0, "install of arc %s failed:\n%s" % (version, log[-6000:])
    with open(os.path.join(lab.dir, "upgrade.ini")) as f:
        ini = f.read()
    assert "\n[product]\nname = arc\n" in ini and "roles = gateway, worker" in ini, ini
    rc, log = run([sys.executable, "-m", "pytest", os.path.join(TOP, "tests", "infra"), "-q", "-p", "no:cacheprovider",
                   "--product", "arc", "--product-version", version, "--lab-dir", lab.dir], env, 600)
    assert rc == 0, "state checks for arc %s failed:\n%s" % (version, log[-8000:])
