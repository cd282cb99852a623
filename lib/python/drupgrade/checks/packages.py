"""The product package of every hop is in [packages] repo, authentic (its .sig, with [packages]
public_key) or matching its .sha256 (without), and holds only plain files under its top directory."""
import os

from drupgrade import packages
from drupgrade.i18n import N_, both
from drupgrade.precheck import Finding
from drupgrade.signing import Refused

ID = "packages"
SUMMARY = N_("the package of every hop is present, authentic (signature) or at least checksummed (sha256), "
             "and safe to unpack")
ORDER = 40
STAGE = "cluster"


def run(env):
    if not env.target or not env.hops:
        return []
    try:
        key = packages.public_key(env.cfg)
    except Refused as e:  # the key file itself: one finding
        return [Finding(ID, "controller", "fail", both(e.msgid, **e.fields), both(e.hint, **e.fields),
                        fid="packages.public_key")]
    found = []
    for dst in sorted({d for _s, d in env.hops}):
        path = env.package_path(dst)
        try:
            record = packages.verify(path, key)
        except Refused as e:
            found.append(Finding(ID, "controller", "fail", both(e.msgid, **e.fields), both(e.hint, **e.fields),
                                 fid="packages.%s" % dst))
            continue
        name = os.path.basename(path)
        if record["signature"]:
            message = both(N_("{file}: signature ok ({kind})"), file=name, kind=record["signature"])
        else:
            message = both(N_("{file}: sha256 ok, not authenticated (no [packages] public_key)"), file=name)
        found.append(Finding(ID, "controller", "pass", message, fid="packages.%s" % dst))
    return found
