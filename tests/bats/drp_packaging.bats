#!/usr/bin/env bats
# The drp packages (packaging/drp/build.sh) and the bash tools inside them: drp-release, drp-units.

setup_file() {
  TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  export TOP
  export PKGS="$BATS_FILE_TMPDIR/pkgs"
  "$TOP/packaging/drp/build.sh" "$PKGS" 2>/dev/null
  mkdir -p "$BATS_FILE_TMPDIR/x"
  for v in 1.0.0 2.2.0 2.3.0; do tar -C "$BATS_FILE_TMPDIR/x" -xzf "$PKGS/drp-$v.tar.gz"; done
}

setup() {
  X="$BATS_FILE_TMPDIR/x"
  export DRP_ROOT="$BATS_TEST_TMPDIR/opt"
  export DRP_UNIT_DIR="$BATS_TEST_TMPDIR/units"
  export DRP_NO_SYSTEMCTL=1
  mkdir -p "$DRP_ROOT"
}

@test "build: a package for every release of VERSIONS, each with a matching .sha256" {
  local v n=0
  while read -r v; do
    (cd "$PKGS" && sha256sum --quiet -c "drp-$v.tar.gz.sha256")
    n=$((n + 1))
  done < <(grep -Ev '^\s*(#|$)' "$TOP/packaging/drp/VERSIONS")
  ((n > 0))
  [ "$(find "$PKGS" -name 'drp-*.tar.gz' | wc -l)" -eq "$n" ]
}

@test "build: the same sources give the same sha256 (umask and time do not matter)" {
  (umask 0002 && "$TOP/packaging/drp/build.sh" "$BATS_TEST_TMPDIR/again" 2.2.0 2.0.0 2>/dev/null)
  cmp "$PKGS/drp-2.2.0.tar.gz" "$BATS_TEST_TMPDIR/again/drp-2.2.0.tar.gz"
  cmp "$PKGS/drp-2.0.0.tar.gz" "$BATS_TEST_TMPDIR/again/drp-2.0.0.tar.gz"
}

@test "build: members are root-owned, sorted, with one fixed mtime" {
  run bash -c "tar -tvzf '$PKGS/drp-2.1.0.tar.gz' | awk '{print \$2, \$4, \$5}' | sort -u"
  [ "$status" -eq 0 ]
  [ "${#lines[@]}" -eq 1 ]
  [[ ${lines[0]} == "0/0 2026-01-01 00:00" ]]
}

@test "build: a release carries the migrations and defaults up to its version only" {
  [ "$(cat "$X/drp-1.0.0/VERSION")" = 1.0.0 ]
  [ "$(ls "$X/drp-1.0.0/share/migrations" | wc -l)" -eq 1 ]
  [ "$(ls "$X/drp-2.2.0/share/migrations" | wc -l)" -eq 5 ]
  grep -q '^VERSION = "2.2.0"$' "$X/drp-2.2.0/lib/drp/version.py"
  run grep -q '"2.0.0"' "$X/drp-1.0.0/share/config/defaults.json"
  [ "$status" -ne 0 ]
  (cd "$X/drp-2.2.0" && sha256sum --quiet --strict -c MANIFEST.sha256)
}

@test "build: a released package never changes (packaging/drp/RELEASED.sha256): a new release is its own patch" {
  local n
  n=$(grep -Evc '^\s*(#|$)' "$TOP/packaging/drp/RELEASED.sha256")
  ((n >= 5))
  (cd "$PKGS" && grep -Ev '^\s*(#|$)' "$TOP/packaging/drp/RELEASED.sha256" | sha256sum --strict -c -)
}

@test "build: 2.3.0 is 2.2.0 plus changes/2.3.0.patch, its migration (expand and contract) and their rollbacks" {
  [ "$(ls "$X/drp-2.3.0/share/migrations/"*.sql | wc -l)" -eq 7 ]
  [ -f "$X/drp-2.3.0/share/migrations/rollback/0006_2.3.0_schema_expand_job_events.sql" ]
  [ -f "$X/drp-2.3.0/share/migrations/rollback/0007_2.3.0_schema_contract_job_events.sql" ]
  [ ! -e "$X/drp-2.2.0/share/migrations/rollback" ] && [ ! -e "$X/drp-2.2.0/share/config/changes.json" ]
  [ -x "$X/drp-2.3.0/bin/drp-events" ] && [ ! -e "$X/drp-2.2.0/bin/drp-events" ]
  grep -q '"kmc.url": "kmc.endpoint"' "$X/drp-2.3.0/share/config/changes.json"
  grep -q '"2.3.0"' "$X/drp-2.3.0/share/config/defaults.json"
  (cd "$X/drp-2.3.0" && sha256sum --quiet --strict -c MANIFEST.sha256)
}

@test "build: a patch that no longer applies fails the build and names it" {
  mkdir "$BATS_TEST_TMPDIR/p"
  cp -R "$TOP/packaging/drp" "$TOP/packaging/lib.sh" "$TOP/packaging/sign.sh" "$BATS_TEST_TMPDIR/p/"
  sed -i 's/^UNITS=(drp-app.service drp-kmc.service/UNITS=(drp-kmc.service drp-app.service/' \
    "$BATS_TEST_TMPDIR/p/drp/src/bin/drp-units"
  run "$BATS_TEST_TMPDIR/p/drp/build.sh" "$BATS_TEST_TMPDIR/o" 2.3.0
  [ "$status" -ne 0 ]
  [[ $output == *"changes/2.3.0.patch does not apply to the sources of 2.3.0"* ]]
  [ ! -e "$BATS_TEST_TMPDIR/o/drp-2.3.0.tar.gz" ]
}

@test "build: the newest release's programs, patches applied, pass ShellCheck and ruff (make lint sees only src/)" {
  local newest dir f bash=() py=()
  newest=$(grep -Ev '^\s*(#|$)' "$TOP/packaging/drp/VERSIONS" | tail -n 1)
  tar -C "$BATS_TEST_TMPDIR" -xzf "$PKGS/drp-$newest.tar.gz"
  dir="$BATS_TEST_TMPDIR/drp-$newest"
  for f in "$dir/install.sh" "$dir"/bin/*; do
    case $(head -n 1 "$f") in
      *bash*) bash+=("$f") ;;
      *python3*) py+=("$f") ;;
    esac
  done
  ((${#bash[@]} >= 3 && ${#py[@]} >= 10))
  shellcheck "${bash[@]}"
  ruff check --no-cache --config "$TOP/ruff.toml" "${py[@]}" "$dir/lib"
}

@test "build: an unknown version is a usage error" {
  run "$TOP/packaging/drp/build.sh" "$BATS_TEST_TMPDIR/o" 9.9.9
  [ "$status" -eq 2 ]
}

@test "drp-release: install beside, switch atomically, keep the old release" {
  "$X/drp-1.0.0/bin/drp-release" install
  "$X/drp-1.0.0/bin/drp-release" activate 1.0.0
  [ "$(readlink "$DRP_ROOT/drp")" = drp-releases/1.0.0 ]
  "$X/drp-2.2.0/bin/drp-release" install
  "$X/drp-2.2.0/bin/drp-release" activate 2.2.0
  [ "$(cat "$DRP_ROOT/drp/VERSION")" = 2.2.0 ]
  [ -f "$DRP_ROOT/drp-releases/1.0.0/VERSION" ]
  run "$DRP_ROOT/drp/bin/drp-release" list
  [[ $output == *"  1.0.0"* && $output == *"* 2.2.0"* ]]
  run "$DRP_ROOT/drp/bin/drp-release" current
  [ "$output" = 2.2.0 ]
  "$DRP_ROOT/drp/bin/drp-release" verify 1.0.0
}

@test "drp-release: install again is a no-op; a damaged release is replaced" {
  "$X/drp-2.2.0/bin/drp-release" install
  run "$X/drp-2.2.0/bin/drp-release" install
  [[ $output == *"already installed and intact"* ]]
  echo junk >>"$DRP_ROOT/drp-releases/2.2.0/bin/drp-app"
  run "$DRP_ROOT/drp-releases/2.2.0/bin/drp-release" verify 2.2.0
  [ "$status" -ne 0 ]
  "$X/drp-2.2.0/bin/drp-release" install
  "$X/drp-2.2.0/bin/drp-release" verify 2.2.0
}

@test "drp-release: the active release cannot be removed; a real /opt/drp is not replaced" {
  "$X/drp-1.0.0/bin/drp-release" install
  "$X/drp-1.0.0/bin/drp-release" activate 1.0.0
  run "$X/drp-1.0.0/bin/drp-release" remove 1.0.0
  [ "$status" -ne 0 ]
  rm "$DRP_ROOT/drp" && mkdir "$DRP_ROOT/drp"
  run "$X/drp-1.0.0/bin/drp-release" activate 1.0.0
  [ "$status" -ne 0 ]
  [[ $output == *"real directory"* ]]
}

@test "drp-units: units follow the roles, with real dependencies" {
  "$X/drp-2.2.0/bin/drp-units" install db_primary,etcd,kmc,app
  for u in drp-db.service drp-etcd.service drp-kmc.service drp-app.service drp.target; do
    [ -f "$DRP_UNIT_DIR/$u" ]
  done
  grep -q '^Requires=drp-kmc.service$' "$DRP_UNIT_DIR/drp-app.service"
  grep -q '^After=network.target drp-db.service drp-etcd.service drp-kmc.service$' "$DRP_UNIT_DIR/drp-app.service"
  grep -q '^Type=notify$' "$DRP_UNIT_DIR/drp-db.service"
  grep -q '^ExecStart=/opt/drp/bin/drp-app$' "$DRP_UNIT_DIR/drp-app.service"
  "$X/drp-2.2.0/bin/drp-units" install etcd,app
  [ ! -e "$DRP_UNIT_DIR/drp-db.service" ] && [ ! -e "$DRP_UNIT_DIR/drp-kmc.service" ]
  run grep -q '^Requires=' "$DRP_UNIT_DIR/drp-app.service"
  [ "$status" -ne 0 ]
  run "$X/drp-2.2.0/bin/drp-units" install etcd,app
  [[ $output == *unchanged* ]]
  "$X/drp-2.2.0/bin/drp-units" remove
  [ -z "$(ls -A "$DRP_UNIT_DIR")" ]
}

@test "drp-units 2.3.0: the app Requires= and is ordered After= the new drp-events on every app node" {
  "$X/drp-2.3.0/bin/drp-units" install db_primary,etcd,kmc,app
  [ -f "$DRP_UNIT_DIR/drp-events.service" ]
  grep -q '^ExecStart=/opt/drp/bin/drp-events$' "$DRP_UNIT_DIR/drp-events.service"
  grep -q '^Requires=drp-kmc.service drp-events.service$' "$DRP_UNIT_DIR/drp-app.service"
  grep -q '^After=network.target drp-db.service drp-etcd.service drp-kmc.service drp-events.service$' \
    "$DRP_UNIT_DIR/drp-app.service"
  grep -q '^Wants=drp-db.service drp-etcd.service drp-kmc.service drp-events.service drp-app.service$' \
    "$DRP_UNIT_DIR/drp.target"
  "$X/drp-2.3.0/bin/drp-units" install etcd,app
  grep -q '^Requires=drp-events.service$' "$DRP_UNIT_DIR/drp-app.service"
  "$X/drp-2.3.0/bin/drp-units" install db_replica,etcd
  [ ! -e "$DRP_UNIT_DIR/drp-events.service" ] && [ ! -e "$DRP_UNIT_DIR/drp-app.service" ]
  "$X/drp-2.3.0/bin/drp-units" install app
  "$X/drp-2.3.0/bin/drp-units" remove
  [ -z "$(ls -A "$DRP_UNIT_DIR")" ]
}

@test "install.sh: usage errors exit 2 and name the steps" {
  run "$X/drp-2.2.0/install.sh" --bogus
  [ "$status" -eq 2 ]
  run "$X/drp-2.2.0/install.sh" --help
  [[ $output == *"wipe"*"files"*"etcd"*"kmc"*"db"*"app"* ]]
}

@test "build: DRP_SIGN_KEY adds a deterministic Ed25519 signature that openssl verifies" {
  command -v openssl >/dev/null || skip "no openssl"
  openssl genpkey -algorithm ed25519 -out "$BATS_TEST_TMPDIR/k.pem" 2>/dev/null
  openssl pkey -in "$BATS_TEST_TMPDIR/k.pem" -pubout -out "$BATS_TEST_TMPDIR/k.pub"
  DRP_SIGN_KEY="$BATS_TEST_TMPDIR/k.pem" "$TOP/packaging/drp/build.sh" "$BATS_TEST_TMPDIR/s" 1.0.0 2>/dev/null
  cmp "$PKGS/drp-1.0.0.tar.gz" "$BATS_TEST_TMPDIR/s/drp-1.0.0.tar.gz"
  openssl pkeyutl -verify -pubin -inkey "$BATS_TEST_TMPDIR/k.pub" -rawin \
    -in "$BATS_TEST_TMPDIR/s/drp-1.0.0.tar.gz" -sigfile "$BATS_TEST_TMPDIR/s/drp-1.0.0.tar.gz.sig"
}

@test "drp-units: roles may be written with spaces, as in upgrade.ini" {
  "$X/drp-2.2.0/bin/drp-units" install "db_replica, etcd, kmc, app"
  [ -f "$DRP_UNIT_DIR/drp-db.service" ] && [ -f "$DRP_UNIT_DIR/drp-kmc.service" ]
  grep -q '^Requires=drp-kmc.service$' "$DRP_UNIT_DIR/drp-app.service"
}
