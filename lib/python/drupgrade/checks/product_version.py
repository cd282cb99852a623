"""The product version on each node, and whether the compatibility matrix allows the target from it."""
from drupgrade import product, versions
from drupgrade.errors import DrupgradeError
from drupgrade.i18n import N_, both
from drupgrade.precheck import Finding

ID = "product_version"
SUMMARY = N_("the product version of each node, and the matrix allows the target from it")
ORDER = 30
STAGE = "cluster"


def run(env):
    found = []
    for node in env.cfg.nodes:
        r = env.runs[node.name]
        if r.error is not None:
            continue
        v = r.facts.get("version", "none")
        if "version_text" in r.facts:
            found.append(Finding(ID, node.name, "fail", both(
                product.NOT_A_VERSION, node=node.name, file=product.VERSION_FILE, text=r.facts["version_text"]),
                both(product.NOT_A_VERSION_HINT, file=product.VERSION_FILE)))
            continue
        if v == "none":
            found.append(Finding(ID, node.name, "fail", both(
                N_("no installed drp found on node {node} ({file} is missing)"), node=node.name,
                file=product.VERSION_FILE),
                both(N_("install the product on this node first"))))
            continue
        planned = (env.versions_before or {}).get(node.name)
        if planned and planned != v:
            found.append(Finding(ID, node.name, "fail", both(
                N_("node {node} runs {found}, but the run was planned from {expected}"), node=node.name,
                found=v, expected=planned), both(N_("run 'upgrade.sh plan' again, then start a new run"))))
            continue
        if not env.target:
            found.append(Finding(ID, node.name, "pass", both(
                N_("drp {version} (no --to given: the upgrade path is not checked)"), version=v)))
            continue
        try:
            hops, kind = versions.plan_path(env.matrix, v, env.target, env.mode)
        except DrupgradeError as e:
            found.append(Finding(ID, node.name, "fail", both(
                N_("drp {version} on node {node} cannot be upgraded to {target}"), version=v, node=node.name,
                target=env.target), {"zh": e.hint or e.message, "en": e.hint or e.message}, [e.message]))
            continue
        path = " -> ".join([v] + [d for _s, d in hops]) if hops else v
        found.append(Finding(ID, node.name, "pass", both(
            N_("drp {version}; path to {target}: {path}"), version=v, target=env.target, path=path)))
    return found
