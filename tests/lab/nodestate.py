"""The state of the lab's nodes that the lab suites and the benches compare (one owner: the lab
tests' helpers and bench/soak.py import it): commands on the nodes, the fingerprint of an install,
its exact state (exact_state.sh), the state-check suite of a version (tests/infra), and the lab's
backups. The lab is the one LAB_NAME/LAB_DIR name, as lab.sh does. Python 3.6 syntax."""
import json
import os
import subprocess
import sys

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The lab's directory as lab.sh chooses it: LAB_DIR, else build/lab (default lab) or build/lab-$LAB_NAME.
LAB_NAME = os.environ.get("LAB_NAME", "drl")
LAB_DIR = os.environ.get("LAB_DIR") or os.path.join(TOP, "build", "lab" if LAB_NAME == "drl" else "lab-" + LAB_NAME)


def sh(*args, check=True, timeout=900, env=None):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                       timeout=timeout, env=dict(os.environ, **(env or {})))
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s" % (" ".join(args), p.returncode, p.stdout[-4000:]))
    return p


def ssh(node, command, check=True):
    return sh("ssh", "-F", os.path.join(LAB_DIR, "ssh_config"), node, command, check=check, timeout=300)




FINGERPRINT = r"""
set -u
echo "version $(cat /opt/drp/VERSION)"
echo "link $(readlink /opt/drp)"
for r in /opt/drp-releases/*; do
  v=${r##*/}
  echo "release $v $(/opt/drp/bin/drp-release verify "$v" >/dev/null 2>&1 && echo ok || echo BAD)"
done
echo "config $(cd /etc/drp && find . -type f ! -name '*.converted' -printf '%P\n' | LC_ALL=C sort | tr '\n' ' ')"
echo "units $(systemctl is-active drp-db drp-etcd drp-kmc drp-app 2>/dev/null | tr '\n' ' ')"
echo "data $(/opt/drp/bin/drp-seed verify-files >/dev/null 2>&1 && echo ok || echo BAD)"
if [ -S /run/mysqld/mysqld.sock ]; then
  echo "schema $(/opt/drp/bin/drp-dbtool schema-version)"
  /opt/drp/bin/drp-dbtool checksum | sed 's/^/table /'
fi
if systemctl is-active -q drp-etcd; then
  echo "etcd $(ETCDCTL_API=3 etcdctl get --prefix /drp/config/ | sha256sum | cut -c1-16)"
fi
"""


def fingerprint():
    """What an upgrade must leave on every node: versions, release integrity, units, data, DB, etcd."""
    return {n: ssh(n, FINGERPRINT).stdout for n in node_names()}


def state_check(version):
    sh(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", os.path.join(TOP, "tests", "infra"),
       "--drp-version", version, timeout=900)


def exact_state_env(name, **extra):
    """The environment of exact_state.sh for the product `name`: its places from
    products/<name>/product.json's parameters, and `extra` (PRODUCT_DATA_SKIP, PRODUCT_DATA_MANIFEST)."""
    with open(os.path.join(TOP, "products", name, "product.json"), encoding="utf-8") as f:
        p = json.load(f)["parameters"]
    env = {"PRODUCT": name, "PRODUCT_LINK": p["link"], "PRODUCT_RELEASES": p["releases"], "PRODUCT_ETC": p["etc"],
           "PRODUCT_TARGET": p["target_unit"], "PRODUCT_DATA": p["data"]}
    env.update(extra)
    return "".join("export %s='%s'\n" % kv for kv in sorted(env.items()))




def node_names():
    nodes = json.load(open(os.path.join(LAB_DIR, "nodes.json")))
    return [n["name"] for n in (nodes["nodes"] if isinstance(nodes, dict) else nodes)]




# What a rollback must give back exactly, beyond the fingerprint (see the script's header).
EXACT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "exact_state.sh")


def snapshot():
    """The fingerprint of every node plus the exact-state lines above."""
    fp = fingerprint()
    with open(EXACT, encoding="utf-8") as f:
        script = f.read()
    return {n: fp[n] + ssh(n, script).stdout for n in sorted(fp)}


def diff(a, b):
    """The lines that differ, per node: what a failed comparison shows."""
    out = []
    for node in sorted(set(a) | set(b)):
        la, lb = a.get(node, "").splitlines(), b.get(node, "").splitlines()
        out += ["%s: - %s" % (node, x) for x in la if x not in lb]
        out += ["%s: + %s" % (node, x) for x in lb if x not in la]
    return "\n".join(out)
