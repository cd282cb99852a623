"""A node runs arc VERSION healthily: program, config, units, gateway and catalog, workers, store.

Run: python3 -m pytest tests/infra --product arc --product-version 2.0.0 [--lab-dir DIR]
"""
import json

import pytest

UNITS = {"gateway": "arc-gateway.service", "worker": "arc-worker.service"}
BIN = "/opt/arc/bin/"


def units_of(node):
    return sorted(UNITS[r] for r in node.roles if r in UNITS) + ["arc.target"]


def test_program_dir(node, version):
    out = node.run_ok("readlink /opt/arc && cat /opt/arc/VERSION && cd /opt/arc/ && "
                      "sha256sum --quiet --strict -c MANIFEST.sha256").split()
    assert out == ["arc-releases/" + version, version]


def test_config(node, version, expected):
    assert node.run_ok("stat -c '%a %U %G' /etc/arc/arc.env").split() == ["640", "root", "arc"]
    assert node.run_ok(BIN + "arc-config get ARC_VERSION").strip() == version
    assert node.run_ok(BIN + "arc-config get ARC_NODE").strip() == node.name
    assert node.run_ok(BIN + "arc-config get ARC_ROLES").strip().split(",") == node.roles
    for key in expected["config_present"]:  # every release's keys, renamed ones under their new name
        node.run_ok(BIN + "arc-config get " + key)
    for key in expected["config_absent"]:  # renamed and removed keys
        assert node.host.run(BIN + "arc-config get " + key).rc == 1, "%s: %s still in arc.env" % (node.name, key)


def test_units_active(node, expected):
    units = units_of(node)
    active = node.host.run("systemctl is-active " + " ".join(units)).stdout.split()
    enabled = node.host.run("systemctl is-enabled " + " ".join(units)).stdout.split()
    assert dict(zip(units, active)) == {u: "active" for u in units}
    assert dict(zip(units, enabled)) == {u: "enabled" for u in units}
    present = node.host.run("ls /etc/systemd/system/").stdout.split()
    extra = sorted(set(UNITS.values()) - set(units) & set(present))
    assert not extra, "%s: units of roles it does not have: %s" % (node.name, extra)
    for unit, lines in expected["unit_lines"].items():
        if unit in units:
            text = node.host.file("/etc/systemd/system/" + unit).content_string.splitlines()
            assert set(lines) <= set(text), "%s: %s lacks %s" % (node.name, unit, lines)


@pytest.mark.roles("gateway")
def test_gateway_health(node, version):
    raw = node.run_ok("curl -sS --max-time 10 http://127.0.0.1:9080/health")
    h = json.loads(raw)
    assert (h["version"], h["node"], h["schema_version"]) == (version, node.name, version), raw
    assert (h["catalog"], h["status"]) == ("ok", "ok"), raw
    assert node.host.socket("tcp://0.0.0.0:9080").is_listening


@pytest.mark.roles("gateway")
def test_catalog(node, expected):
    path = node.run_ok(BIN + "arc-db path").strip()
    assert node.run_ok("stat -c '%U %G' " + path).split() == ["arc", "arc"]
    assert node.run_ok(BIN + "arc-db integrity").strip() == "ok"
    node.run_ok(BIN + "arc-migrate --check")
    assert json.loads(node.run_ok(BIN + "arc-db checksum --json")) == expected["tables"]


@pytest.mark.roles("gateway")
def test_every_worker_reports_to_the_gateway(node, nodes, version):
    workers = json.loads(node.run_ok("curl -sS --max-time 10 http://127.0.0.1:9080/workers"))
    want = sorted(n.name for n in nodes if n.has("worker"))
    assert sorted(workers) == want, workers
    for name, w in workers.items():
        assert w["version"] == version and w["beats"] >= 1, (name, w)
        assert not w.get("stale", False), (name, w)  # 1.1.0 on: reported within ARC_HEARTBEAT_TIMEOUT


@pytest.mark.roles("worker")
def test_worker_health(node, version):
    raw = node.run_ok("curl -sS --max-time 10 http://127.0.0.1:9081/health")
    h = json.loads(raw)
    assert (h["version"], h["node"], h["gateway"], h["store"], h["status"]) == (
        version, node.name, "ok", "ok", "ok"), raw
    assert node.host.socket("tcp://127.0.0.1:9081").is_listening
    assert not node.host.socket("tcp://0.0.0.0:9081").is_listening  # local to the node


def test_store(node, expected):
    node.run_ok(BIN + "arc-seed verify-store")
    store = node.run_ok(BIN + "arc-config get ARC_STORE").strip()
    assert node.host.file(store + "/MANIFEST.sha256").sha256sum == expected["manifest"]


def test_no_failed_units(node):
    out = node.host.run("systemctl list-units --failed --plain --no-legend 'arc*'").stdout
    assert out.strip() == "", out
