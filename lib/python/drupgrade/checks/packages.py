"""The product package of every hop is in [packages] repo and matches its sha256."""
import os

from drupgrade.i18n import N_
from drupgrade.precheck import Finding, both

ID = "packages"
SUMMARY = N_("the package of every hop is present and verified (sha256)")
ORDER = 40
STAGE = "cluster"


def run(env):
    if not env.target or not env.hops:
        return []
    found = []
    for _src, dst in env.hops:
        path = env.package_path(dst)
        name = os.path.basename(path)
        missing = [p for p in (path, path + ".sha256") if not os.path.exists(p)]
        if missing:
            found.append(Finding(ID, "controller", "fail", both(
                N_("package {file} is missing from [packages] repo"), file=missing[0]), both(
                N_("copy drp-{version}.tar.gz and its .sha256 into {repo}"), version=dst,
                repo=os.path.dirname(path)), fid="packages.%s" % dst))
            continue
        with open(path + ".sha256") as f:
            want = (f.read().split() or [""])[0]
        got = env.transport.transfer.local_sha256(path)
        if got != want:
            found.append(Finding(ID, "controller", "fail", both(
                N_("package {file} fails its sha256 check: expected {want}, got {got}"), file=path, want=want,
                got=got), both(N_("copy the package again from its source")), fid="packages.%s" % dst))
        else:
            found.append(Finding(ID, "controller", "pass", both(N_("{file}: sha256 ok"), file=name),
                                 fid="packages.%s" % dst))
    return found
