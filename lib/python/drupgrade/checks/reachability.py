"""Every node answers ssh with the configured credentials (and a known host key)."""
from drupgrade.i18n import N_, both
from drupgrade.precheck import Finding

ID = "reachability"
SUMMARY = N_("every node is reachable over ssh and accepts the credentials")
ORDER = 10
STAGE = "connect"


def run(env):
    found = []
    for node in env.cfg.nodes:
        r = env.runs[node.name]
        if r.error is None:
            found.append(Finding(ID, node.name, "pass", both(
                N_("reachable at {host} (ssh round trip {ms} ms)"), host=node.host,
                ms=int((r.rtt or 0) * 1000))))
            continue
        message, hint = r.error
        found.append(Finding(ID, node.name, "fail", both(
            N_("cannot reach node {node} ({host}): {detail}; its other checks could not run"),
            node=node.name, host=node.host, detail=message),
            {"zh": hint, "en": hint} if hint else both(
                N_("check the network, sshd and the [ssh_config] credentials of this node "
                   "('upgrade.sh nodes' shows each node), then run the precheck again"))))
    return found
