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
    found, prod = [], product.of(env.cfg)
    for node in env.cfg.nodes:
        r = env.runs[node.name]
        if r.error is not None:
            continue
        v = r.facts.get("version", "none")
        if "version_text" in r.facts:
            found.append(Finding(ID, node.name, "fail", both(
                product.NOT_A_VERSION, node=node.name, file=prod.version_file, text=r.facts["version_text"]),
                both(product.NOT_A_VERSION_HINT, file=prod.version_file)))
            continue
        if v == "none":
            found.append(Finding(ID, node.name, "fail", both(
                N_("no installed {product} found on node {node} ({file} is missing)"), product=prod.name,
                node=node.name, file=prod.version_file),
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
                N_("{product} {version} (no --to given: the upgrade path is not checked)"), product=prod.name,
                version=v)))
            continue
        try:  # a run's own path when there is one (a fallback, a mixed cluster), else the matrix's
            hops = env.node_paths(v) if env.run_hops is not None else versions.plan_path(
                env.matrix, v, env.target, env.mode)[0]
        except DrupgradeError as e:
            found.append(Finding(ID, node.name, "fail", both(
                N_("{product} {version} on node {node} cannot be upgraded to {target}"), product=prod.name,
                version=v, node=node.name,
                target=env.target), {"zh": e.hint or e.message, "en": e.hint or e.message}, [e.message]))
            continue
        path = " -> ".join([v] + [d for _s, d in hops]) if hops else v
        found.append(Finding(ID, node.name, "pass", both(
            N_("{product} {version}; path to {target}: {path}"), product=prod.name, version=v,
            target=env.target, path=path)))
    return found
