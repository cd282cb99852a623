#!/usr/bin/env python3
"""How much of the hand-written drp 2.3.0 upgrade data the generator reproduces (docs/framework.md,
"The generator"). Usage: PYTHONPATH=lib/python bench/generator_reproduction.py [OUT_DIR]

The product data as it was before 2.3.0 is the tree's products/ with what the two 2.3.0 commits
added taken out again (HAND below); the generator drafts 2.2.0 -> 2.3.0 from the real packages
(build/packages) against it; then every value the hand-written data sets (a JSON leaf: a key's
value, a list of plain values counted as one; the execution plan keyed by phase and template, a
template's steps by step name; prose keys — comment, name, name_zh, description — left out) is
looked up in the draft: identical, equivalent (the same once the draft's names of its own files
are mapped to the hand-written names: strategy and template ids, the mapping file), or missing."""
import json
import os
import shutil
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "lib", "python"))

from drupgrade import config, product  # noqa: E402
from drupgrade.commands.upgrade import generate  # noqa: E402

PROSE = {"comment", "name", "name_zh", "description"}
# hand-written file -> the draft's file (None: the draft has none)
HAND = {
    "strategies/drp_v2_to_v2_3.json": "strategies/drp_v2_0_0_to_v2_3_0.json",
    "strategies/drp_v1_to_v2_3.json": "strategies/drp_v1_0_0_to_v2_3_0.json",
    "config/2.x-2.3.0.json": "config/2.0.0-2.3.0.json",
    "config/1.x-2.3.0.json": "config/1.0.0-2.3.0.json",
    "templates/drp_config_map.json": "templates/drp_config_map.json",
    "templates/drp_v2_3_validation.json": "templates/drp_validation_v2_3_0.json",
}
NAMES = {"drp_v2_0_0_to_v2_3_0": "drp_v2_to_v2_3", "drp_v1_0_0_to_v2_3_0": "drp_v1_to_v2_3",
         "drp_validation_v2_3_0": "drp_v2_3_validation", "config/2.0.0-2.3.0.json": "config/2.x-2.3.0.json",
         "config/1.0.0-2.3.0.json": "config/1.x-2.3.0.json"}


def before_2_3_0(products):
    """The tree's products/ without what the 2.3.0 commits added."""
    d = os.path.join(products, "drp")
    for rel in HAND:
        os.unlink(os.path.join(d, rel))
    pj = json.load(open(os.path.join(d, "product.json")))
    pj["parameters"]["units"].remove("drp-events.service")
    for k in ("events_unit", "events_health_url"):
        del pj["parameters"][k]
    json.dump(pj, open(os.path.join(d, "product.json"), "w"), indent=2)
    m = json.load(open(os.path.join(d, "version_matrix.json")))
    m["versions"].remove("v2.3.0")
    del m["version_compatibility"]["v2.2.0"]
    for row in m["version_compatibility"].values():
        for k in ("supported_targets", "direct_upgrade"):
            row[k] = [v for v in row[k] if v != "v2.3.0"]
        row["progressive_upgrade"] = [v for v in row["progressive_upgrade"] if v != "v2.2.0"]
    json.dump(m, open(os.path.join(d, "version_matrix.json"), "w"), indent=2)


def keyed(data):
    """Lists of objects keyed by what names them (phase and template, step_name)."""
    if isinstance(data, dict):
        return {k: keyed(v) for k, v in data.items()}
    if isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        out = {}
        for x in data:
            name = x.get("phase") or x.get("step_name") or x.get("template") or json.dumps(x, sort_keys=True)
            out[name] = keyed({k: v for k, v in x.items() if k not in ("phase", "step_name")})
            if "components" in x:
                out[name] = {(c.get("template") or c.get("component")): keyed(c) for c in x["components"]}
        return out
    return data


def leaves(data, at=""):
    if isinstance(data, dict):
        found = {}
        for k, v in data.items():
            if k not in PROSE and k != "TODO":
                found.update(leaves(v, "%s/%s" % (at, k)))
        return found
    return {at: data}


def mapped(value):
    text = json.dumps(value, sort_keys=True)
    for a, b in NAMES.items():
        text = text.replace(a, b)
    return json.loads(text)


def inlined(hand):
    """A template's values with its own parameters' defaults put in (${events_unit} is
    ${product.events_unit} when the template's parameter events_unit defaults to it)."""
    params = {k: p["default"] for k, p in hand.get("parameters", {}).items() if isinstance(p.get("default"), str)}
    text = json.dumps(hand.get("execution_steps", []))
    for k, v in params.items():
        text = text.replace("${%s}" % k, v)
    return dict(hand, execution_steps=json.loads(text))


def compare(hand, draft):
    h, d = leaves(keyed(hand)), leaves(keyed(mapped(draft))) if draft is not None else {}
    hi = leaves(keyed(inlined(hand)))
    raw = leaves(keyed(draft)) if draft is not None else {}
    same = [k for k, v in h.items() if raw.get(k) == v]
    equiv = [k for k, v in h.items() if k not in same and k in d and d[k] in (v, hi.get(k))]
    return len(h), len(same), len(equiv), sorted(k for k in h if k not in same and k not in equiv)


def changed_leaves(before, after):
    b, a = leaves(before), leaves(after)
    return {k: v for k, v in a.items() if b.get(k) != v}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="generator-bench-")
    work = tempfile.mkdtemp(prefix="generator-products-")
    products = os.path.join(work, "products")
    shutil.copytree(os.path.join(TOP, "products"), products)
    before_2_3_0(products)
    pkgs = os.path.join(TOP, "build", "packages")
    config.PRODUCTS_DIR = products
    product.load.cache_clear()
    t0 = time.monotonic()
    shutil.rmtree(os.path.join(out, "draft"), ignore_errors=True)
    _a, d, _w = generate.generate("drp", os.path.join(pkgs, "drp-2.2.0.tar.gz"), os.path.join(pkgs, "drp-2.3.0.tar.gz"),
                                  os.path.join(out, "draft"))
    took = time.monotonic() - t0
    draft_dir = os.path.join(out, "draft")
    hand_dir = os.path.join(TOP, "products", "drp")
    rows, total = [], [0, 0, 0]
    for rel, drel in sorted(HAND.items()):
        hand = json.load(open(os.path.join(hand_dir, rel)))
        draft = json.load(open(os.path.join(draft_dir, drel))) if drel else None
        n, same, equiv, missing = compare(hand, draft)
        rows.append((rel, drel or "-", n, same, equiv, missing))
    for rel in ("product.json", "version_matrix.json"):  # only what the 2.3.0 commits changed
        before = json.load(open(os.path.join(products, "drp", rel)))
        hand = changed_leaves(before, json.load(open(os.path.join(hand_dir, rel))))
        dpath = os.path.join(draft_dir, rel)
        draft = leaves(json.load(open(dpath))) if os.path.exists(dpath) else leaves(before)
        same = sum(1 for k, v in hand.items() if draft.get(k) == v)
        rows.append((rel, rel if os.path.exists(dpath) else "-", len(hand), same, 0,
                     sorted(k for k, v in hand.items() if draft.get(k) != v)))
    print("%-36s %-40s %6s %9s %10s %7s" % ("hand-written", "draft", "values", "identical", "equivalent", "missing"))
    for rel, drel, n, same, equiv, missing in rows:
        total[0] += n
        total[1] += same
        total[2] += equiv
        print("%-36s %-40s %6d %9d %10d %7d" % (rel, drel, n, same, equiv, len(missing)))
        for m in missing:
            print("    missing: %s" % m)
    print("%-77s %6d %9d %10d %7d" % ("total", total[0], total[1], total[2], total[0] - total[1] - total[2]))
    print("reproduced: %.0f %% (identical %.0f %%); TODOs left: %d; generate took %.2f s (in process)" % (
        100.0 * (total[1] + total[2]) / total[0], 100.0 * total[1] / total[0], len(d.todos), took))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
