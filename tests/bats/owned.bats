#!/usr/bin/env bats
# The removal guard (scripts/lib/owned.sh): nothing is removed that drupgrade did not create.

setup() {
  TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  # shellcheck disable=SC1091
  source "$TOP/scripts/lib/owned.sh"
  D=$BATS_TEST_TMPDIR
}

@test "a directory with the tool's marker is removed" {
  owned::mark "$D/tool" "created_by=test"
  mkdir -p "$D/tool/bin" && echo x > "$D/tool/bin/f"
  grep -qx "created_by=test" "$D/tool/.drupgrade-owned"
  grep -q "^created=20" "$D/tool/.drupgrade-owned"
  run owned::remove "$D/tool"
  [ "$status" -eq 0 ]
  [ ! -e "$D/tool" ]
}

@test "a directory without the marker is not removed: status 3 and the path on stderr" {
  mkdir -p "$D/opt/drp" && echo 1.0.0 > "$D/opt/drp/VERSION"
  run owned::remove "$D/opt"
  [ "$status" -eq 3 ]
  [ "$output" = "drupgrade-not-owned: $D/opt" ]
  [ "$(cat "$D/opt/drp/VERSION")" = 1.0.0 ]
}

@test "a missing directory is nothing to do" {
  run owned::remove "$D/nothing"
  [ "$status" -eq 0 ]
}

@test "a symlink to a marked directory, or a marker that is a symlink, is not ours" {
  owned::mark "$D/real" "created_by=test"
  ln -s "$D/real" "$D/link"
  run owned::remove "$D/link"
  [ "$status" -eq 3 ]
  [ -f "$D/real/.drupgrade-owned" ]
  mkdir "$D/fake"
  ln -s "$D/real/.drupgrade-owned" "$D/fake/.drupgrade-owned"
  run owned::remove "$D/fake"
  [ "$status" -eq 3 ]
  [ -d "$D/fake" ]
}

@test "paths that are not absolute and normalised are refused" {
  owned::mark "$D/x" "created_by=test"
  for p in / "" relative/x "$D/x/" "$D//x" "$D/./x" "$D/x/../x"; do
    run owned::remove "$p"
    [ "$status" -ne 0 ]
  done
  [ -f "$D/x/.drupgrade-owned" ]
}

@test "a tool dir unpacked by an older drupgrade is adopted, anything more is not" {
  mkdir -p "$D/old/bin" "$D/old/steps" && echo '#!/bin/bash' > "$D/old/bin/drstep" && echo 0.1.0 > "$D/old/VERSION"
  echo DR_X=1 > "$D/old/context.env"
  owned::adopt_tool_dir "$D/old"
  grep -q "adopted=" "$D/old/.drupgrade-owned"
  run owned::remove "$D/old"
  [ "$status" -eq 0 ] && [ ! -e "$D/old" ]

  mkdir -p "$D/mixed/bin" "$D/mixed/plugins" && echo '#!/bin/bash' > "$D/mixed/bin/drstep" && echo 0.1.0 > "$D/mixed/VERSION"
  owned::adopt_tool_dir "$D/mixed"
  [ ! -e "$D/mixed/.drupgrade-owned" ]
  run owned::remove "$D/mixed"
  [ "$status" -eq 3 ] && [ -d "$D/mixed/plugins" ]

  mkdir -p "$D/noversion/bin" && echo '#!/bin/bash' > "$D/noversion/bin/drstep"
  owned::adopt_tool_dir "$D/noversion"
  [ ! -e "$D/noversion/.drupgrade-owned" ]
}
