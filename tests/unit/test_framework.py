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
# Node-side files not moved onto the framework yet: the product library scripts/lib/drp.sh and
# what still uses it (backup_local, the rollback steps), and drp's precheck checks.
# docs/framework.md, "What is not on the framework yet", says what each needs.
NOT_MOVED_YET = {
    "scripts/lib/drp.sh", "scripts/lib/rollback.sh",
    "scripts/steps/5-backup/40-backup_local.sh",
    "scripts/steps/rollback/05-rollback_check_backup.sh", "scripts/steps/rollback/10-rollback_stop.sh",
    "scripts/steps/rollback/20-rollback_db.sh", "scripts/steps/rollback/30-rollback_program.sh",
    "scripts/steps/rollback/40-rollback_config.sh", "scripts/steps/rollback/50-rollback_start.sh",
    "scripts/steps/rollback/60-rollback_verify.sh",
    "scripts/checks/50-disk_backup.sh", "scripts/checks/60-services.sh", "scripts/checks/70-db_replication.sh",
    "scripts/checks/80-etcd_health.sh",
}


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
        if rel in NOT_MOVED_YET:
            continue
        with open(os.path.join(TOP, rel), encoding="utf-8", errors="replace") as f:
            for n, line in enumerate(f, 1):
                if PRODUCT_NAME.search(line) and not any(rel == a and text in line for a, text in ALLOWED):
                    found.append("%s:%d: %s" % (rel, n, line.strip()))
    assert found == [], "product names belong in products/<name>/:\n" + "\n".join(found)


def test_the_list_of_files_not_moved_yet_only_shrinks():
    """Each file listed as not moved yet still exists and still names the product: a file moved
    onto the framework leaves the list."""
    for rel in sorted(NOT_MOVED_YET):
        with open(os.path.join(TOP, rel), encoding="utf-8") as f:
            assert PRODUCT_NAME.search(f.read()), "%s no longer names the product: remove it from NOT_MOVED_YET" % rel


def test_the_check_finds_a_product_name():
    assert PRODUCT_NAME.search("systemctl stop drp-app.service")
    assert PRODUCT_NAME.search("cat /opt/drp/VERSION")
    assert not PRODUCT_NAME.search("drupgrade drstep drcheck")
