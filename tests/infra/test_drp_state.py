"""A node runs drp VERSION healthily: program, config, units, links, DB, replication, etcd, data."""
import json
import time

import pytest

UNITS = {"db_primary": "drp-db.service", "db_replica": "drp-db.service", "etcd": "drp-etcd.service",
         "kmc": "drp-kmc.service", "app": "drp-app.service"}
BIN = "/opt/drp/bin/"


def vt(v):
    return tuple(int(p) for p in v.split("."))


def units_of(node, expected):
    """The node's drp units: those of its roles, those its version added to a role, drp.target."""
    units = {UNITS[r] for r in node.roles if r in UNITS}
    for r in node.roles:
        units.update(expected["units"].get(r, []))
    return sorted(units) + ["drp.target"]


def test_program_dir(node, version):
    out = node.run_ok("readlink /opt/drp && cat /opt/drp/VERSION && " + BIN + "drp-release verify").split()
    assert out == ["drp-releases/" + version, version]


def test_config(node, version, expected):
    new, old = "/etc/drp/drp.json", "/etc/drp/drp.ini"
    if vt(version) < (2, 0, 0):
        new, old = old, new
    assert node.run_ok("stat -c '%a %U %G' " + new).split() == ["640", "root", "drp"]
    assert node.host.run("test -e " + old).rc == 1, "%s: %s should not exist at %s" % (node.name, old, version)
    assert node.run_ok(BIN + "drp-config get product_version").strip() == version
    assert node.run_ok(BIN + "drp-config get node.name").strip() == node.name
    for key in expected["config_present"]:  # renamed and new keys
        node.run_ok(BIN + "drp-config get " + key)
    for key in expected["config_absent"]:  # renamed and removed keys
        assert node.host.run(BIN + "drp-config get " + key).rc == 1, "%s: %s still in the config" % (node.name, key)


def test_units_active(node, expected):
    units = units_of(node, expected)
    # one systemctl call per question (testinfra's service module costs 2-3 round trips a unit)
    active = node.host.run("systemctl is-active " + " ".join(units)).stdout.split()
    enabled = node.host.run("systemctl is-enabled " + " ".join(units)).stdout.split()
    assert dict(zip(units, active)) == {u: "active" for u in units}
    assert dict(zip(units, enabled)) == {u: "enabled" for u in units}
    present = node.host.run("ls /etc/systemd/system/").stdout.split()
    known = set(UNITS.values()) | {u for us in expected["units"].values() for u in us}
    extra = sorted(known - set(units) & set(present))
    assert not extra, "%s: units of roles it does not have: %s" % (node.name, extra)


@pytest.mark.roles("app")
def test_health(node, version):
    raw = node.run_ok("curl -sS --max-time 10 http://127.0.0.1:8080/health")
    h = json.loads(raw)
    assert h["version"] == version and h["node"] == node.name
    assert (h["db"], h["kmc"], h["etcd"], h["status"]) == ("ok", "ok", "ok", "ok"), raw
    links = {k: v for k, v in h.items() if k not in ("version", "node", "status", "schema_version")}
    assert set(links.values()) == {"ok"}, raw  # every link the app has (drp-events from 2.3.0)
    assert node.host.socket("tcp://0.0.0.0:8080").is_listening


@pytest.mark.roles("app")
def test_app_does_work(node, version, primary, expected):
    """The app's worker wrote its heartbeat to the DB, etcd, its local data file (and drp-events)."""
    row = primary.run_ok("mariadb -N -B -e %s" % (
        "\"SELECT version, beats FROM drp.app_heartbeat WHERE node='%s'\"" % node.name)).split()
    assert row and row[0] == version and int(row[1]) >= 1
    state = json.loads(node.host.file("/var/lib/drp/data/app/%s.json" % node.name).content_string)
    assert state["version"] == version
    if node.has("etcd"):
        got = json.loads(node.run_ok("etcdctl get --print-value-only /drp/nodes/%s" % node.name))
        assert got["version"] == version
    if "drp-events.service" in units_of(node, expected):
        port = node.run_ok(BIN + "drp-config get events.port").strip()
        events = json.loads(node.run_ok("curl -sS --max-time 5 http://127.0.0.1:%s/events" % port))
        assert any(e.get("node") == node.name and e.get("version") == version for e in events), events
        assert not node.host.socket("tcp://0.0.0.0:%s" % port).is_listening  # local to the node


@pytest.mark.roles("db_primary", "db_replica")
def test_db_socket_and_port(node):
    h = node.host
    assert h.socket("unix:///run/mysqld/mysqld.sock").is_listening
    assert h.socket("tcp://0.0.0.0:3306").is_listening
    assert node.run_ok("mariadb -N -B -e 'SELECT CURRENT_USER()'").strip() == "root@localhost"


@pytest.mark.roles("db_primary", "db_replica")
def test_schema_version(node, version):
    assert node.run_ok(BIN + "drp-dbtool schema-version").strip() == version
    st = json.loads(node.run_ok(BIN + "drp-migrate --status --json"))
    assert st["schema_version"] == version and st["pending"] == [] and st["changed"] == []


@pytest.mark.roles("db_primary", "db_replica")
def test_service_database(node, version):
    n = node.run_ok("mariadb -N -B -e \"SELECT COUNT(*) FROM information_schema.SCHEMATA "
                    "WHERE SCHEMA_NAME='drp_audit'\"").strip()
    assert n == ("1" if vt(version) >= (2, 0, 0) else "0")


@pytest.mark.roles("db_primary", "db_replica")
def test_sdba(node):
    node.run_ok(BIN + "drp-dbtool verify-sdba")
    # and directly, with the password from the product config, over TCP
    node.run_ok("cnf=$(mktemp) && chmod 600 $cnf && printf '[client]\\nuser=sdba\\npassword=%s\\n' "
                "\"$(" + BIN + "drp-config get database.users.sdba.password)\" >$cnf && "
                "mariadb --defaults-extra-file=$cnf -h 127.0.0.1 -N -e 'SELECT 1'; rc=$?; rm -f $cnf; exit $rc")


@pytest.mark.roles("db_replica")
def test_replication(node, primary):
    st = json.loads(node.run_ok(BIN + "drp-dbtool repl-status --json"))
    assert st["role"] == "replica" and st["read_only"]
    assert st["io_running"] == "Yes" and st["sql_running"] == "Yes", st
    assert st["master_host"] == primary.address
    assert st["seconds_behind_master"] not in ("", "NULL") and int(st["seconds_behind_master"]) <= 5
    pos = primary.run_ok("mariadb -N -B -e 'SELECT @@global.gtid_binlog_pos'").strip()
    waited = node.run_ok("mariadb -N -B -e \"SELECT MASTER_GTID_WAIT('%s', 10)\"" % pos).strip()
    assert waited == "0", "replica did not reach the primary's GTID %s within 10 s" % pos


@pytest.mark.roles("db_primary", "db_replica")
def test_seed_data(node, expected):
    sums = json.loads(node.run_ok(BIN + "drp-dbtool checksum --json"))
    assert sums == expected["tables"]


def test_local_data(node, expected):
    node.run_ok(BIN + "drp-seed verify-files")
    assert node.host.file("/var/lib/drp/data/MANIFEST.sha256").sha256sum == expected["manifest"]


@pytest.mark.roles("etcd")
def test_etcd(node, nodes, version):
    members = json.loads(node.run_ok("etcdctl member list -w json"))["members"]
    want = sorted("http://%s:2380" % n.address for n in nodes if n.has("etcd"))
    assert sorted(u for m in members for u in m["peerURLs"]) == want
    assert all(m.get("name") for m in members), "a member is not started"
    node.run_ok("etcdctl endpoint health --cluster")
    assert node.run_ok("etcdctl get --print-value-only /drp/config/version").strip() == version
    assert node.host.socket("tcp://127.0.0.1:2379").is_listening


@pytest.mark.roles("kmc")
def test_kmc(node, nodes):
    key = node.host.file("/etc/drp/kmc/data.key")
    assert key.mode == 0o600 and key.user == "drp"
    assert node.host.socket("tcp://127.0.0.1:8700").is_listening
    h = json.loads(node.run_ok("curl -sS --max-time 5 http://127.0.0.1:8700/health"))
    assert h["status"] == "ok"
    others = [n for n in nodes if n.has("kmc") and n.name != node.name]
    for o in others:  # one data key for the cluster
        oh = json.loads(o.run_ok("curl -sS --max-time 5 http://127.0.0.1:8700/health"))
        assert oh["key_id"] == h["key_id"]


def test_no_failed_units(node):
    out = node.host.run("systemctl list-units --failed --plain --no-legend 'drp*'").stdout
    assert out.strip() == "", out


def test_clock_sane(node):
    """Heartbeats use the node's clock; a node far off would confuse the checks above."""
    remote = int(node.run_ok("date +%s").strip())
    assert abs(remote - time.time()) < 60
