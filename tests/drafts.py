"""What the generator's tests (tests/unit/test_generator.py, tests/integration/test_generator.py) do
with a draft of `upgrade.sh generate`, as its engineer would: decide every TODO as GENERATED.md
suggests, and drop the draft into a products/ tree in place of the hand-written strategies into
its target version."""
import json
import os
import shutil


def resolve(top):
    """Every TODO under top decided as the draft has it (its value kept, the TODO list removed): how many."""
    n = 0
    for root, _dirs, names in os.walk(top):
        for name in names:
            path = os.path.join(root, name)
            if name.endswith(".json") and name != "GENERATED.json":
                with open(path, encoding="utf-8") as f:
                    data = json.load(f)
                n += len(data.pop("TODO", []))
                with open(path, "w", encoding="utf-8") as f:
                    json.dump(data, f, indent=2)
    return n


def drop_in(draft, products, name, target):
    """The draft copied into products/<name>/ in place of the strategies into target."""
    pdir = os.path.join(products, name)
    for f in os.listdir(os.path.join(pdir, "strategies")):
        with open(os.path.join(pdir, "strategies", f), encoding="utf-8") as fh:
            s = json.load(fh)["upgrade_strategy"]
        if s["applicable_versions"]["target_range"] == ["v" + target, "v" + target]:
            os.unlink(os.path.join(pdir, "strategies", f))
    for root, _dirs, names in os.walk(draft):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), draft)
            os.makedirs(os.path.dirname(os.path.join(pdir, rel)), exist_ok=True)
            shutil.copy(os.path.join(root, n), os.path.join(pdir, rel))
