#!/usr/bin/env bats
# tests/lab/install.sh without a lab: pointing the lab's upgrade.ini at a product (packaging/<p>/lab.json)
# and its usage errors. The installs themselves are lab tests (tests/integration/test_*_versions.py).

setup() {
  TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  export LAB_DIR="$BATS_TEST_TMPDIR/lab"
  mkdir -p "$LAB_DIR"
  local f
  for f in upgrade.ini upgrade-key.ini; do
    cat >"$LAB_DIR/$f" <<INI
# drupgrade config for lab 'x', written by tests/lab/lab.sh up
[ssh_config]
username = root

[node:node1]
host = 10.9.9.11
roles = db_primary, etcd, kmc, app

[node:node2]
host = 10.9.9.12
roles = db_replica, etcd, kmc, app

[node:node3]
host = 10.9.9.13
roles = etcd, app

[paths]
state_dir = /tmp/x/state

[packages]
repo = $TOP/build/packages
public_key = $TOP/packaging/drp/test-keys/drp-TEST-ONLY-ed25519.pub
INI
  done
  cp "$LAB_DIR/upgrade.ini" "$BATS_TEST_TMPDIR/drp.ini"
  touch "$LAB_DIR/ssh_config"
}

@test "--product arc points upgrade.ini at arc: [product], arc's roles, arc's key; the rest stays" {
  "$TOP/tests/lab/install.sh" --product arc --point-only
  for f in upgrade.ini upgrade-key.ini; do
    python3 - "$LAB_DIR/$f" "$TOP" <<'PY'
import configparser, sys
cp = configparser.ConfigParser(interpolation=None)
cp.read(sys.argv[1])
assert cp.get("product", "name") == "arc"
assert [cp.get("node:node%d" % i, "roles") for i in (1, 2, 3)] == ["gateway, worker", "worker", "worker"]
assert cp.get("packages", "public_key") == sys.argv[2] + "/packaging/arc/test-keys/arc-TEST-ONLY-ed25519.pub"
assert cp.get("node:node2", "host") == "10.9.9.12" and cp.get("paths", "state_dir") == "/tmp/x/state"
PY
  done
  head -n 1 "$LAB_DIR/upgrade.ini" | grep -q "^# drupgrade config for lab 'x'"
  [ "$(stat -c %a "$LAB_DIR/upgrade.ini")" = 600 ]
}

@test "back to drp: the [product] section goes (drp is the default) and the file is as lab.sh wrote it" {
  "$TOP/tests/lab/install.sh" --product arc --point-only
  "$TOP/tests/lab/install.sh" --point-only
  cmp "$BATS_TEST_TMPDIR/drp.ini" "$LAB_DIR/upgrade.ini"
  PRODUCT=arc "$TOP/tests/lab/install.sh" --point-only
  grep -q '^name = arc$' "$LAB_DIR/upgrade.ini"
  "$TOP/tests/lab/install.sh" --product drp --point-only
  cmp "$BATS_TEST_TMPDIR/drp.ini" "$LAB_DIR/upgrade.ini"
}

@test "lab.sh writes drp's roles from packaging/drp/lab.json, the layout install.sh puts back" {
  run bash -c "REPO='$TOP'; source <(sed -n '/^lab::roles()/,/^}/p' '$TOP/tests/lab/lab.sh'); for n in node1 node2 node3 node7; do lab::roles \$n; done"
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = "db_primary, etcd, kmc, app" ] && [ "${lines[1]}" = "db_replica, etcd, kmc, app" ]
  [ "${lines[2]}" = "etcd, app" ] && [ "${lines[3]}" = "app" ]
}

@test "usage: an unknown product, a bad version, a missing lab are errors before anything changes" {
  run "$TOP/tests/lab/install.sh" --product nope 1.0.0
  [ "$status" -eq 2 ] && [[ $output == *"no product 'nope'"* ]]
  run "$TOP/tests/lab/install.sh" --product arc x.y
  [ "$status" -eq 2 ]
  run "$TOP/tests/lab/install.sh" --bogus
  [ "$status" -eq 2 ]
  LAB_DIR="$BATS_TEST_TMPDIR/none" run "$TOP/tests/lab/install.sh" --product arc --point-only
  [ "$status" -eq 1 ] && [[ $output == *"no lab at"* ]]
  cmp "$BATS_TEST_TMPDIR/drp.ini" "$LAB_DIR/upgrade.ini"
}
