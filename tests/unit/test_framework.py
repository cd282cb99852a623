"""The engine, the components and the templates name no product (issue 14, SPEC V3): a product's
names, paths and units live in products/<name>/ (and its packaging). This grep fails on any file of
the tool that names the reference product drp (drp, drp-*, drp_*, /opt/drp)."""
import os
import re

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRODUCT_NAME = re.compile(r"\bdrp\b|drp[-_]|/opt/drp", re.I)
# The tool's own files: the controller, the node-side libraries, components, steps, checks and
# the generic templates.
SCANNED = ("lib/python/drupgrade", "scripts", "templates")
# The one place that names the default product ([product] name when the configuration says none).
ALLOWED = {("lib/python/drupgrade/config.py", 'DEFAULT_PRODUCT = "drp"')}


def files():
    for top in SCANNED:
        for root, _dirs, names in os.walk(os.path.join(TOP, top)):
            if "__pycache__" in root:
                continue
            for name in names:
                yield os.path.relpath(os.path.join(root, name), TOP)


def test_no_engine_component_or_template_file_names_a_product():
    found = []
    for rel in files():
        with open(os.path.join(TOP, rel), encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                if PRODUCT_NAME.search(line) and not any(rel == a and text in line for a, text in ALLOWED):
                    found.append("%s:%d: %s" % (rel, n, line.strip()))
    assert found == [], "product names belong in products/<name>/:\n" + "\n".join(found)


def test_the_check_finds_a_product_name():
    assert PRODUCT_NAME.search("systemctl stop drp-app.service")
    assert PRODUCT_NAME.search("cat /opt/drp/VERSION")
    assert not PRODUCT_NAME.search("drupgrade drstep drcheck")
