#!/usr/bin/env bats
# The drp python tools that need no service: config formats and their upgrade, KMC crypto.

setup_file() {
  TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  export TOP
  export PKGS="$BATS_FILE_TMPDIR/pkgs"
  "$TOP/packaging/drp/build.sh" "$PKGS" 1.0.0 1.5.0 2.2.0 2.3.0 2>/dev/null
  mkdir -p "$BATS_FILE_TMPDIR/x"
  for v in 1.0.0 1.5.0 2.2.0 2.3.0; do tar -C "$BATS_FILE_TMPDIR/x" -xzf "$PKGS/drp-$v.tar.gz"; done
  cat >"$BATS_FILE_TMPDIR/topology.json" <<'JSON'
{"cluster": "t", "nodes": {
  "node1": {"address": "10.9.9.11", "roles": ["db_primary", "etcd", "kmc", "app"]},
  "node4": {"address": "10.9.9.14", "roles": ["app"]}},
 "secrets": {"app_password": "pa", "repl_password": "pr", "sdba_password": "ps", "kmc_token": "tk",
             "data_key": "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"}}
JSON
}

setup() {
  X="$BATS_FILE_TMPDIR/x"
  export DRP_ETC="$BATS_TEST_TMPDIR/etc"
  mkdir -p "$DRP_ETC"
}

# write_config VERSION NODE: what drp-configure writes, without its chown to user drp
write_config() {
  python3 - "$X/drp-$1" "$BATS_FILE_TMPDIR/topology.json" "$2" <<'PY'
import importlib.machinery, importlib.util, json, sys
pkg, topo, node = sys.argv[1:]
sys.path.insert(0, pkg + "/lib")
loader = importlib.machinery.SourceFileLoader("drp_configure", pkg + "/bin/drp-configure")
spec = importlib.util.spec_from_loader("drp_configure", loader)
mod = importlib.util.module_from_spec(spec)
loader.exec_module(mod)
from drp import config
config.save(mod.build_tree(json.load(open(topo)), node))
PY
}

@test "1.x writes INI, and drp-config reads it back typed" {
  write_config 1.0.0 node4
  [ -f "$DRP_ETC/drp.ini" ] && [ ! -e "$DRP_ETC/drp.json" ]
  grep -q '^host = 10.9.9.11$' "$DRP_ETC/drp.ini"
  [ "$("$X/drp-1.0.0/bin/drp-config" get node.roles)" = app ]
  [ "$("$X/drp-1.0.0/bin/drp-config" get kmc.url)" = http://10.9.9.11:8700 ]
  [ "$("$X/drp-1.0.0/bin/drp-config" get database.users.sdba.password)" = ps ]
  [ "$("$X/drp-1.0.0/bin/drp-config" format)" = ini ]
  run "$X/drp-1.0.0/bin/drp-config" get no.such.key
  [ "$status" -eq 1 ]
}

@test "1.0.0 -> 1.5.0: format unchanged, post adds the new key to the INI" {
  write_config 1.0.0 node4
  "$X/drp-1.5.0/bin/drp-config-upgrade" --phase pre
  run "$X/drp-1.5.0/bin/drp-config-upgrade" --phase post --check
  [ "$status" -eq 1 ]
  "$X/drp-1.5.0/bin/drp-config-upgrade" --phase post
  grep -q '^heartbeat_interval = 10$' "$DRP_ETC/drp.ini"
  [ "$("$X/drp-1.5.0/bin/drp-config" get product_version)" = 1.5.0 ]
  "$X/drp-1.5.0/bin/drp-config-upgrade" --phase post --check
}

@test "1.0.0 -> 2.2.0: pre converts INI to JSON keeping every value; both phases re-runnable" {
  write_config 1.0.0 node4
  before=$("$X/drp-1.0.0/bin/drp-config" dump)
  "$X/drp-2.2.0/bin/drp-config-upgrade" --phase pre
  [ -f "$DRP_ETC/drp.json" ] && [ ! -e "$DRP_ETC/drp.ini" ] && [ -f "$DRP_ETC/drp.ini.converted" ]
  after=$("$X/drp-2.2.0/bin/drp-config" dump)
  [ "$before" = "$after" ]
  run "$X/drp-2.2.0/bin/drp-config-upgrade" --phase pre
  [[ $output == *"already present"* ]]
  "$X/drp-2.2.0/bin/drp-config-upgrade" --phase post
  [ "$("$X/drp-2.2.0/bin/drp-config" get audit.database)" = drp_audit ]
  [ "$("$X/drp-2.2.0/bin/drp-config" get app.heartbeat_interval)" = 10 ]
  [ "$("$X/drp-2.2.0/bin/drp-config" get product_version)" = 2.2.0 ]
  [ "$("$X/drp-2.2.0/bin/drp-config" get database.primary.port)" = 3306 ]
  "$X/drp-2.2.0/bin/drp-config-upgrade" --phase post --check
}

@test "a fresh 2.2.0 config is exactly a 1.0.0 config upgraded to 2.2.0" {
  write_config 2.2.0 node4
  fresh=$("$X/drp-2.2.0/bin/drp-config" dump)
  rm -f "$DRP_ETC"/*
  write_config 1.0.0 node4
  "$X/drp-2.2.0/bin/drp-config-upgrade" --phase pre
  "$X/drp-2.2.0/bin/drp-config-upgrade" --phase post
  [ "$fresh" = "$("$X/drp-2.2.0/bin/drp-config" dump)" ]
}

@test "2.2.0 -> 2.3.0: post renames kmc.url to kmc.endpoint (value kept), removes app.max_threads, adds events.*" {
  write_config 2.2.0 node4
  url=$("$X/drp-2.2.0/bin/drp-config" get kmc.url)
  [ "$("$X/drp-2.2.0/bin/drp-config" get app.max_threads)" = 16 ]
  "$X/drp-2.3.0/bin/drp-config-upgrade" --phase pre
  run "$X/drp-2.3.0/bin/drp-config-upgrade" --phase post --check
  [ "$status" -eq 1 ]
  run "$X/drp-2.3.0/bin/drp-config-upgrade" --phase post
  [[ $output == *"kmc.url -> kmc.endpoint"*"-app.max_threads"*"events.keep"*"events.port"* ]]
  [ "$("$X/drp-2.3.0/bin/drp-config" get kmc.endpoint)" = "$url" ]
  run "$X/drp-2.3.0/bin/drp-config" get kmc.url
  [ "$status" -eq 1 ]
  run "$X/drp-2.3.0/bin/drp-config" get app.max_threads
  [ "$status" -eq 1 ]
  [ "$("$X/drp-2.3.0/bin/drp-config" get events.port)" = 8091 ]
  [ "$("$X/drp-2.3.0/bin/drp-config" get product_version)" = 2.3.0 ]
  "$X/drp-2.3.0/bin/drp-config-upgrade" --phase post --check
  run "$X/drp-2.3.0/bin/drp-config-upgrade" --phase post
  [[ $output == *"already at 2.3.0"* ]]
}

@test "2.3.0: a renamed key keeps an operator's value; the new key wins over a stale old one" {
  write_config 2.2.0 node4
  python3 - "$DRP_ETC/drp.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["kmc"]["url"] = "http://10.9.9.99:8700"
open(sys.argv[1], "w").write(json.dumps(d))
PY
  "$X/drp-2.3.0/bin/drp-config-upgrade" --phase post
  [ "$("$X/drp-2.3.0/bin/drp-config" get kmc.endpoint)" = http://10.9.9.99:8700 ]
  python3 - "$DRP_ETC/drp.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["kmc"]["url"] = "http://stale:8700"
open(sys.argv[1], "w").write(json.dumps(d))
PY
  "$X/drp-2.3.0/bin/drp-config-upgrade" --phase post
  [ "$("$X/drp-2.3.0/bin/drp-config" get kmc.endpoint)" = http://10.9.9.99:8700 ]
  run "$X/drp-2.3.0/bin/drp-config" get kmc.url
  [ "$status" -eq 1 ]
}

@test "a fresh 2.3.0 config is exactly a 1.0.0 or a 2.2.0 config upgraded to 2.3.0" {
  local from
  write_config 2.3.0 node4
  fresh=$("$X/drp-2.3.0/bin/drp-config" dump)
  [[ $fresh == *'"endpoint"'* && $fresh != *'"url"'* && $fresh != *max_threads* ]]
  for from in 1.0.0 2.2.0; do
    rm -f "$DRP_ETC"/*
    write_config "$from" node4
    "$X/drp-2.3.0/bin/drp-config-upgrade" --phase pre
    "$X/drp-2.3.0/bin/drp-config-upgrade" --phase post
    [ "$fresh" = "$("$X/drp-2.3.0/bin/drp-config" dump)" ]
  done
}

@test "a half-written drp.json is an error, not 'done'" {
  write_config 1.0.0 node4
  echo '{"node": ' >"$DRP_ETC/drp.json"
  run "$X/drp-2.2.0/bin/drp-config-upgrade" --phase pre
  [ "$status" -eq 1 ]
}

@test "KMC crypto: round trip, tamper and wrong key are refused" {
  run python3 - "$X/drp-2.2.0/lib" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from drp import kmc
k1, k2 = bytes(range(32)), bytes(range(1, 33))
ct = kmc.encrypt(k1, "secret value")
assert kmc.decrypt(k1, ct) == "secret value"
assert kmc.encrypt(k1, "secret value") != ct  # fresh nonce
parts = ct.split(":")
bad = ":".join(parts[:3] + [("A" if parts[3][0] != "A" else "B") + parts[3][1:]] + parts[4:])
for key, token in ((k1, bad), (k2, ct)):
    try:
        kmc.decrypt(key, token)
    except kmc.KMCError:
        continue
    raise SystemExit("accepted a bad ciphertext")
print("ok")
PY
  [ "$status" -eq 0 ] && [ "$output" = ok ]
}

@test "drp-migrate without a database fails cleanly (exit 1, one line)" {
  DRP_DB_SOCKET="$BATS_TEST_TMPDIR/none.sock" run "$X/drp-2.2.0/bin/drp-migrate" --status
  [ "$status" -eq 1 ]
  [[ $output == drp-migrate:* ]]
  DRP_DB_SOCKET="$BATS_TEST_TMPDIR/none.sock" run "$X/drp-2.3.0/bin/drp-migrate" --rollback-to 2.2.0
  [ "$status" -eq 1 ]
  [[ $output == drp-migrate:* ]]
}
