#!/usr/bin/env bats
# The second product arc (packaging/arc): its packages, and its tools that need no service:
# the env-file config and its upgrade, the SQLite catalog's migrations and rollbacks, the units.

setup_file() {
  TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  export TOP
  export PKGS="$BATS_FILE_TMPDIR/pkgs"
  ARC_SIGN_KEY="$TOP/packaging/arc/test-keys/arc-TEST-ONLY-ed25519.key" "$TOP/packaging/arc/build.sh" "$PKGS" 2>/dev/null
  mkdir -p "$BATS_FILE_TMPDIR/x"
  for v in $(grep -Ev '^\s*(#|$)' "$TOP/packaging/arc/VERSIONS"); do
    tar -C "$BATS_FILE_TMPDIR/x" -xzf "$PKGS/arc-$v.tar.gz"
  done
  cat >"$BATS_FILE_TMPDIR/topology.json" <<'JSON'
{"cluster": "t", "nodes": {
  "node1": {"address": "10.9.9.11", "roles": ["gateway", "worker"]},
  "node2": {"address": "10.9.9.12", "roles": ["worker"]}},
 "secrets": {"token": "tk"}}
JSON
}

setup() {
  X="$BATS_FILE_TMPDIR/x"
  export ARC_ETC="$BATS_TEST_TMPDIR/etc"
  export ARC_UNIT_DIR="$BATS_TEST_TMPDIR/units"
  export ARC_NO_SYSTEMCTL=1
  DATA="$BATS_TEST_TMPDIR/data"
  mkdir -p "$DATA"
}

# configure VERSION NODE: the config a fresh install of VERSION writes, its paths moved under $DATA
configure() {
  "$X/arc-$1/bin/arc-config" configure --topology "$BATS_FILE_TMPDIR/topology.json" --node "$2" 2>/dev/null
  sed -i "s|=/var/lib/arc|=$DATA|" "$ARC_ETC/arc.env"
}

# checksum VERSION: the catalog's table checksums as one JSON line, read by that version's tool
checksum() {
  "$X/arc-$1/bin/arc-db" checksum --json | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin), sort_keys=True))'
}

# expected VERSION: the tables of tests/infra/arc_expected.json for VERSION, as checksum prints them
expected() {
  python3 -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["versions"][sys.argv[2]], sort_keys=True))' \
    "$TOP/tests/infra/arc_expected.json" "$1"
}

# fresh_catalog VERSION: what install.sh's catalog step does: baseline, seed, migrations to VERSION
fresh_catalog() {
  "$X/arc-$1/bin/arc-migrate" --to 1.0.0 2>/dev/null
  "$X/arc-$1/bin/arc-seed" catalog 2>/dev/null
  "$X/arc-$1/bin/arc-migrate" 2>/dev/null
}

@test "build: a signed package per release of VERSIONS, the same bytes every time" {
  local v n=0
  for v in $(grep -Ev '^\s*(#|$)' "$TOP/packaging/arc/VERSIONS"); do
    (cd "$PKGS" && sha256sum --quiet -c "arc-$v.tar.gz.sha256")
    openssl pkeyutl -verify -pubin -inkey "$TOP/packaging/arc/test-keys/arc-TEST-ONLY-ed25519.pub" -rawin \
      -in "$PKGS/arc-$v.tar.gz" -sigfile "$PKGS/arc-$v.tar.gz.sig"
    n=$((n + 1))
  done
  ((n >= 3))
  (umask 0002 && "$TOP/packaging/arc/build.sh" "$BATS_TEST_TMPDIR/again" 2.0.0 2>/dev/null)
  cmp "$PKGS/arc-2.0.0.tar.gz" "$BATS_TEST_TMPDIR/again/arc-2.0.0.tar.gz"
  run bash -c "tar -tvzf '$PKGS/arc-1.1.0.tar.gz' | awk '{print \$2, \$4, \$5}' | sort -u"
  [ "${#lines[@]}" -eq 1 ] && [[ ${lines[0]} == "0/0 2026-01-01 00:00" ]]
}

@test "build: a released package never changes (packaging/arc/RELEASED.sha256)" {
  (($(grep -Evc '^\s*(#|$)' "$TOP/packaging/arc/RELEASED.sha256") >= 3))
  (cd "$PKGS" && grep -Ev '^\s*(#|$)' "$TOP/packaging/arc/RELEASED.sha256" | sha256sum --strict -c -)
}

@test "build: a release carries the migrations, rollbacks and config keys up to its version only" {
  [ "$(ls "$X/arc-1.0.0/share/migrations/"*.sql | wc -l)" -eq 1 ] && [ ! -e "$X/arc-1.0.0/share/migrations/rollback" ]
  [ "$(ls "$X/arc-2.0.0/share/migrations/"*.sql | wc -l)" -eq 3 ]
  [ "$(ls "$X/arc-2.0.0/share/migrations/rollback/"*.sql | wc -l)" -eq 2 ]
  run grep -q '"1.1.0"' "$X/arc-1.0.0/share/config/keys.json"
  [ "$status" -ne 0 ]
  grep -q '^VERSION = "2.0.0"$' "$X/arc-2.0.0/lib/arc/version.py"
  (cd "$X/arc-2.0.0" && sha256sum --quiet --strict -c MANIFEST.sha256)
  run "$TOP/packaging/arc/build.sh" "$BATS_TEST_TMPDIR/o" 9.9.9
  [ "$status" -eq 2 ]
}

@test "arc-config: a fresh config holds every release's keys, in KEY=value lines" {
  "$X/arc-1.0.0/bin/arc-config" configure --topology "$BATS_FILE_TMPDIR/topology.json" --node node2
  [ "$(stat -c %a "$ARC_ETC/arc.env")" = 640 ]
  grep -q '^ARC_GATEWAY_URL=http://10.9.9.11:9080$' "$ARC_ETC/arc.env"
  grep -q '^ARC_POLL_SECONDS=5$' "$ARC_ETC/arc.env"
  [ "$("$X/arc-1.0.0/bin/arc-config" get ARC_ROLES)" = worker ]
  run "$X/arc-1.0.0/bin/arc-config" get ARC_WORKER_INTERVAL
  [ "$status" -eq 1 ]
  run grep -Ev '^(#.*|[A-Z][A-Z0-9_]*=.*)$' "$ARC_ETC/arc.env"
  [ "$status" -eq 1 ]
  run "$X/arc-1.0.0/bin/arc-config" configure --topology "$BATS_FILE_TMPDIR/topology.json" --node node9
  [ "$status" -eq 2 ]
}

@test "arc-config upgrade 1.0.0 -> 1.1.0 -> 2.0.0: renamed (value kept), removed, added; re-runnable" {
  configure 1.0.0 node1
  sed -i 's/^ARC_POLL_SECONDS=5$/ARC_POLL_SECONDS=7/' "$ARC_ETC/arc.env"
  run "$X/arc-1.1.0/bin/arc-config" upgrade --check
  [ "$status" -eq 1 ]
  run "$X/arc-1.1.0/bin/arc-config" upgrade
  [[ $output == *"ARC_POLL_SECONDS -> ARC_WORKER_INTERVAL"*"ARC_HEARTBEAT_TIMEOUT"* ]]
  [ "$("$X/arc-1.1.0/bin/arc-config" get ARC_WORKER_INTERVAL)" = 7 ]
  run "$X/arc-1.1.0/bin/arc-config" get ARC_POLL_SECONDS
  [ "$status" -eq 1 ]
  "$X/arc-1.1.0/bin/arc-config" upgrade --check
  "$X/arc-2.0.0/bin/arc-config" upgrade
  run "$X/arc-2.0.0/bin/arc-config" get ARC_DB
  [ "$status" -eq 1 ]
  [ "$("$X/arc-2.0.0/bin/arc-config" get ARC_DATA_DIR)" = /var/lib/arc ]
  [ "$("$X/arc-2.0.0/bin/arc-config" get ARC_VERSION)" = 2.0.0 ]
  run "$X/arc-2.0.0/bin/arc-config" upgrade
  [[ $output == *"already at 2.0.0"* ]]
}

@test "arc-config: a fresh 2.0.0 config is exactly a 1.0.0 config upgraded to 2.0.0 in one jump" {
  "$X/arc-2.0.0/bin/arc-config" configure --topology "$BATS_FILE_TMPDIR/topology.json" --node node1 2>/dev/null
  fresh=$(cat "$ARC_ETC/arc.env")
  rm -f "$ARC_ETC/arc.env"
  "$X/arc-1.0.0/bin/arc-config" configure --topology "$BATS_FILE_TMPDIR/topology.json" --node node1 2>/dev/null
  "$X/arc-2.0.0/bin/arc-config" upgrade
  [ "$fresh" = "$(cat "$ARC_ETC/arc.env")" ]
}

@test "arc-config: a line that is not KEY=value is an error naming the file and line" {
  configure 1.0.0 node2
  echo 'not a setting' >>"$ARC_ETC/arc.env"
  run "$X/arc-1.1.0/bin/arc-config" upgrade
  [ "$status" -eq 1 ]
  [[ $output == *"arc.env line "*"not KEY=value"* ]]
}

@test "catalog: a fresh install of each release has the tables tests/infra/arc_expected.json expects" {
  local v
  for v in $(grep -Ev '^\s*(#|$)' "$TOP/packaging/arc/VERSIONS"); do
    rm -rf "${DATA:?}"/* "$ARC_ETC"
    configure "$v" node1
    fresh_catalog "$v"
    "$X/arc-$v/bin/arc-migrate" --check
    [ "$(checksum "$v")" = "$(expected "$v")" ]
  done
}

@test "catalog: upgraded 1.0.0 -> 1.1.0 -> 2.0.0 it equals a fresh one; rolled back it equals the old one" {
  configure 1.0.0 node1
  fresh_catalog 1.0.0
  run "$X/arc-1.1.0/bin/arc-migrate" --check
  [ "$status" -eq 1 ] && [[ $output == *"pending: 0002_1.1.0_object_tier"* ]]
  "$X/arc-1.1.0/bin/arc-config" upgrade && "$X/arc-1.1.0/bin/arc-migrate"
  [ "$(checksum 1.1.0)" = "$(expected 1.1.0)" ]
  echo "ARC_DATA_DIR=$DATA" >>"$ARC_ETC/arc.env"
  "$X/arc-2.0.0/bin/arc-config" upgrade && "$X/arc-2.0.0/bin/arc-migrate"
  [ "$(checksum 2.0.0)" = "$(expected 2.0.0)" ]
  "$X/arc-2.0.0/bin/arc-migrate" --rollback-to 1.1.0
  [ "$(checksum 2.0.0)" = "$(expected 1.1.0)" ]
  [ "$("$X/arc-2.0.0/bin/arc-migrate" --status --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["schema_version"])')" = 1.1.0 ]
  "$X/arc-2.0.0/bin/arc-migrate" --rollback-to 1.0.0
  [ "$(checksum 2.0.0)" = "$(expected 1.0.0)" ]
  run sqlite3 "$DATA/catalog.db" "SELECT name FROM sqlite_master WHERE name IN ('buckets', 'idx_objects_tier')"
  [ -z "$output" ]
}

@test "catalog: a migration that fails half way leaves nothing of it (SQLite DDL is transactional)" {
  mkdir -p "$BATS_TEST_TMPDIR/p"
  cp -R "$X/arc-2.0.0" "$BATS_TEST_TMPDIR/p/"
  local bad="$BATS_TEST_TMPDIR/p/arc-2.0.0"
  echo "INSERT INTO no_such_table VALUES (1);" >>"$bad/share/migrations/0003_2.0.0_buckets.sql"
  configure 1.1.0 node1
  fresh_catalog 1.1.0
  echo "ARC_DATA_DIR=$DATA" >>"$ARC_ETC/arc.env"
  "$bad/bin/arc-config" upgrade
  run "$bad/bin/arc-migrate"
  [ "$status" -eq 1 ] && [[ $output == *"0003_buckets failed, nothing of it applied"* ]]
  [ "$(checksum 2.0.0)" = "$(expected 1.1.0)" ]
  run sqlite3 "$DATA/catalog.db" "SELECT name FROM sqlite_master WHERE name IN ('buckets', 'objects_new')"
  [ -z "$output" ]
  [ "$(sqlite3 "$DATA/catalog.db" 'SELECT MAX(seq) FROM schema_version')" = 2 ]
}

@test "catalog: a migration without its rollback file stops --rollback-to before anything changes" {
  mkdir -p "$BATS_TEST_TMPDIR/p"
  cp -R "$X/arc-2.0.0" "$BATS_TEST_TMPDIR/p/"
  rm "$BATS_TEST_TMPDIR/p/arc-2.0.0/share/migrations/rollback/0002_1.1.0_object_tier.sql"
  configure 2.0.0 node1
  fresh_catalog 2.0.0
  run "$BATS_TEST_TMPDIR/p/arc-2.0.0/bin/arc-migrate" --rollback-to 1.0.0
  [ "$status" -eq 1 ] && [[ $output == *"0002_object_tier has no rollback"*"restore the catalog backup"* ]]
  [ "$(checksum 2.0.0)" = "$(expected 2.0.0)" ]
}

@test "arc-db: backup and restore give back the catalog exactly" {
  configure 2.0.0 node1
  fresh_catalog 2.0.0
  "$X/arc-2.0.0/bin/arc-db" backup "$BATS_TEST_TMPDIR/cat.bak"
  [ "$(stat -c %a "$BATS_TEST_TMPDIR/cat.bak")" = 600 ]
  sqlite3 "$DATA/catalog.db" "DELETE FROM objects WHERE id > 10"
  [ "$(checksum 2.0.0)" != "$(expected 2.0.0)" ]
  "$X/arc-2.0.0/bin/arc-db" restore "$BATS_TEST_TMPDIR/cat.bak"
  [ "$(checksum 2.0.0)" = "$(expected 2.0.0)" ]
  [ "$("$X/arc-2.0.0/bin/arc-db" integrity)" = ok ]
}

@test "arc-units: units follow the roles; 2.0.0 adds the migration check and the worker's order" {
  "$X/arc-1.1.0/bin/arc-units" install gateway,worker
  [ -f "$ARC_UNIT_DIR/arc-gateway.service" ] && [ -f "$ARC_UNIT_DIR/arc-worker.service" ]
  grep -q '^EnvironmentFile=/etc/arc/arc.env$' "$ARC_UNIT_DIR/arc-gateway.service"
  grep -q '^Wants=arc-gateway.service arc-worker.service$' "$ARC_UNIT_DIR/arc.target"
  run grep -q 'ExecStartPre' "$ARC_UNIT_DIR/arc-gateway.service"
  [ "$status" -ne 0 ]
  grep -q '^After=network.target$' "$ARC_UNIT_DIR/arc-worker.service"
  "$X/arc-2.0.0/bin/arc-units" install gateway,worker
  grep -q '^ExecStartPre=/opt/arc/bin/arc-migrate --check$' "$ARC_UNIT_DIR/arc-gateway.service"
  grep -q '^After=network.target arc-gateway.service$' "$ARC_UNIT_DIR/arc-worker.service"
  grep -q '^Wants=arc-gateway.service$' "$ARC_UNIT_DIR/arc-worker.service"
  "$X/arc-2.0.0/bin/arc-units" install worker
  [ ! -e "$ARC_UNIT_DIR/arc-gateway.service" ]
  grep -q '^After=network.target$' "$ARC_UNIT_DIR/arc-worker.service"
  run "$X/arc-2.0.0/bin/arc-units" install worker
  [[ $output == *unchanged* ]]
  "$X/arc-2.0.0/bin/arc-units" remove
  [ -z "$(ls -A "$ARC_UNIT_DIR")" ]
}

@test "install.sh: usage errors exit 2 and name the steps" {
  run "$X/arc-2.0.0/install.sh" --bogus
  [ "$status" -eq 2 ]
  run "$X/arc-2.0.0/install.sh" --help
  [[ $output == *"wipe"*"files"*"catalog"*"start"* ]]
}
