"""The controller's own prechecks: one module per check, found by scanning this folder.

A module declares ID (stable, the findings' check id), SUMMARY (N_ msgid), ORDER, STAGE
("connect": about reaching the nodes, shown first; "cluster": after the node checks) and
run(env) -> [precheck.Finding]. The node checks are scripts/checks/NN-name.sh.
"""
import importlib
import pkgutil


def discover():
    mods = [importlib.import_module(__name__ + "." + info.name)
            for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_")]
    return sorted(mods, key=lambda m: (m.ORDER, m.ID))
