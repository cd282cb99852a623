"""The controller's layout rules (docs/architecture.md) as checks anyone can run: the modules of
drupgrade import each other without a cycle (function-level imports included: a cycle hidden in a
function is still one), and no module reaches into another object's private members."""
import ast
import os

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG = os.path.join(TOP, "lib", "python", "drupgrade")


def modules():
    """{dotted name: path} of every module of drupgrade."""
    found = {}
    for root, _dirs, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(root, f)
                name = os.path.relpath(path[:-3], os.path.dirname(PKG)).replace(os.sep, ".")
                found[name[:-len(".__init__")] if name.endswith(".__init__") else name] = path
    return found


def imports(mods):
    """{module: the drupgrade modules it imports, anywhere in its text}."""
    graph = {}
    for name, path in mods.items():
        deps = set()
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("drupgrade"):
                for alias in node.names:  # `from drupgrade import x` imports the module x
                    sub = node.module + "." + alias.name
                    deps.add(sub if sub in mods else node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("drupgrade"))
        graph[name] = {d for d in deps if d in mods and d != name and not name.startswith(d + ".")}
    return graph


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on, stack, found, counter = {}, {}, set(), [], [], [0]

    def visit(v):
        work = [(v, iter(sorted(graph[v])))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_between_the_controllers_modules():
    graph = imports(modules())
    assert "drupgrade.engine" in graph["drupgrade.runner"]  # the graph is read, not empty
    assert cycles(graph) == []


# argparse reads its messages through argparse._ (gettext): cli.py sets it to ours, on purpose.
ALLOWED = {("cli.py", "argparse", "_")}


def private_reaches(path):
    """`x._name` where x is not self or cls: a member another object keeps to itself."""
    found = []
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read(), path)):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            owner = node.value
            name = owner.id if isinstance(owner, ast.Name) else None
            if name not in ("self", "cls") and (os.path.basename(path), name, node.attr) not in ALLOWED:
                found.append("%s:%d: .%s" % (os.path.relpath(path, TOP), node.lineno, node.attr))
    return found


@pytest.mark.parametrize("path", sorted(modules().values()), ids=lambda p: os.path.relpath(p, PKG))
def test_no_module_reaches_into_anothers_private_members(path):
    assert private_reaches(path) == []


def test_the_private_member_check_sees_a_reach(tmp_path):
    p = tmp_path / "m.py"
    p.write_text("def f(up):\n    self = up\n    return up._runs, self._ok, os._exit, x.__class__\n")
    assert [r.split(": ")[1] for r in private_reaches(str(p))] == ["._runs", "._exit"]
