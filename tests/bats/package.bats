#!/usr/bin/env bats
# Unpacking a package on a node (scripts/lib/package.sh, scripts/steps/6-upgrade/10-unzip.sh running
# the component service/release as a strategy binds it): the
# received bytes against the controller's sha256, one checked copy, only plain members under
# drp-<v>/, the tree exactly its manifest. Crafted archives: tests/fixtures/package/mkpkg.py.

setup() {
  TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  MKPKG=$TOP/tests/fixtures/package/mkpkg.py
  export DRUPGRADE_LANG=en
  W=$BATS_TEST_TMPDIR
}

# pkg KIND: a crafted package at $W/KIND.tar.gz; prints its path.
pkg() {
  python3 "$MKPKG" "$W/$1.tar.gz" "$1"
  printf '%s' "$W/$1.tar.gz"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# The unzip step's binding, as the controller writes it into context.env for drp 2.1.0 -> 2.2.0.
bind_unzip() {
  export DR_B_UNZIP_COMPONENT=service/release DR_B_UNZIP_P_ACTION=unpack DR_B_UNZIP_P_DIR=$W/wd/drp-2.2.0 \
    DR_B_UNZIP_P_VERSION=2.2.0
}

# extract PACKAGE [SHA256]: package::extract in a subshell, as a step would call it.
extract() {
  local p=$1 want=${2:-}
  [[ -n $want ]] || want=$(sha "$p")
  bash -c 'source "$1/scripts/lib/common.sh"; source "$1/scripts/lib/package.sh"
    package::extract "$2" "$3" drp-2.2.0 "$4"' _ "$TOP" "$p" "$want" "$W/work"
}

@test "a plain package is extracted, modes kept, from a private 0700 work dir" {
  local p
  p=$(pkg good)
  umask 077  # the steps' umask: --no-same-permissions must not make the release unreadable
  run extract "$p"
  [ "$status" -eq 0 ]
  [ "$(stat -c %a "$W/work")" = 700 ]
  [ "$(cat "$W/work/tree/drp-2.2.0/VERSION")" = 2.2.0 ]
  [ "$(stat -c %a "$W/work/tree/drp-2.2.0/bin/tool")" = 755 ]
  [ "$(stat -c %a "$W/work/tree/drp-2.2.0/VERSION")" = 644 ]
  [ "$(stat -c %u "$W/work/tree/drp-2.2.0/VERSION")" = "$(id -u)" ]
}

@test "members that are not plain files or directories under drp-<v>/ are refused, nothing extracted" {
  local kind p
  for kind in symlink_arrow symlink_inside hardlink hardlink_out chardev blockdev fifo setuid setgid \
      dotdot absolute outside top_file newline quote nonascii; do
    p=$(pkg "$kind")
    run extract "$p"
    echo "$kind: $output"
    [ "$status" -eq 1 ]
    [[ $output == *"refusing to unpack"* ]]
    [ ! -e "$W/work/tree" ]
  done
}

@test "each refusal names the member and why" {
  run extract "$(pkg symlink_arrow)"
  [[ $output == *'a link'*'"drp-2.2.0/a -> b" -> "/etc"'* ]]
  run extract "$(pkg hardlink)"
  [[ $output == *'a link'*'"drp-2.2.0/h" link to "drp-2.2.0/VERSION"'* ]]
  run extract "$(pkg chardev)"
  [[ $output == *"a device, fifo or other special file"*drp-2.2.0/null* ]]
  run extract "$(pkg fifo)"
  [[ $output == *"a device, fifo or other special file"*drp-2.2.0/fifo* ]]
  run extract "$(pkg setuid)"
  [[ $output == *"setuid or setgid bit"*drp-2.2.0/bin/su* ]]
  run extract "$(pkg dotdot)"
  [[ $output == *"outside drp-2.2.0/"*'drp-2.2.0/../evil'* ]]
  run extract "$(pkg absolute)"
  [[ $output == *"outside drp-2.2.0/"*'/tmp/drp-evil'* ]]
  run extract "$(pkg outside)"
  [[ $output == *"outside drp-2.2.0/"*'other/evil'* ]]
  # The newline is shown escaped: the fake line after it is part of the same, refused, name.
  run extract "$(pkg newline)"
  [[ $output == *"quotes, backslashes, control or non-ASCII"*'drp-2.2.0/x\n-rw-r--r--'* ]]
  [ "$(grep -c 'member not allowed' <<<"$output")" -eq 1 ]
}

@test "bytes that differ from DR_PACKAGE_SHA256 are refused before they are listed" {
  local p other
  p=$(pkg good)
  other=$(sha "$(pkg extra)")
  run extract "$p" "$other"
  [ "$status" -eq 1 ]
  [[ $output == *"is not the one the controller verified (sha256 $other)"* ]]
  [ ! -e "$W/work/listing" ] && [ ! -e "$W/work/tree" ]
  run extract "$p" "not-a-sha256"
  [ "$status" -eq 1 ]
  [[ $output == *"DR_PACKAGE_SHA256"* ]]
}

@test "the tree must be exactly its MANIFEST.sha256" {
  run extract "$(pkg extra)"
  [ "$status" -eq 1 ]
  [[ $output == *"does not list: bin/extra"* ]]
  run extract "$(pkg badmanifest)"
  [ "$status" -eq 1 ]
  [[ $output == *"fail their MANIFEST.sha256"* ]]
}

# The step itself, run by hand as drstep would, with a tar that swaps the received package for a
# hostile one while the step lists it: the step extracts the copy it checked, not the swapped file.
@test "10-unzip.sh unpacks exactly what it checked" {
  local p evil
  p=$(pkg good)
  evil=$(pkg symlink_arrow)
  mkdir -p "$W/bin"
  cat >"$W/bin/tar" <<EOF
#!/usr/bin/env bash
[[ " \$* " == *" -tvzf "* ]] && cp "$evil" "$p"
exec $(command -v tar) "\$@"
EOF
  chmod +x "$W/bin/tar"
  export DR_TO=2.2.0 DR_FROM=2.1.0 DR_WORK_DIR=$W/wd DR_PACKAGE=$p DR_PACKAGE_SHA256
  DR_PACKAGE_SHA256=$(sha "$p")
  bind_unzip
  PATH=$W/bin:$PATH run "$TOP/scripts/steps/6-upgrade/10-unzip.sh" run
  echo "$output"
  [ "$status" -eq 0 ]
  cmp -s "$p" "$evil"  # the received file was swapped while the step listed its copy
  [ -f "$W/wd/drp-2.2.0/.unpacked" ] && [ ! -e "$W/wd/drp-2.2.0/a -> b" ]
  [ ! -e "$W/wd/drp-2.2.0.part" ]
  run "$TOP/scripts/steps/6-upgrade/10-unzip.sh" check
  [ "$status" -eq 0 ]
}

@test "10-unzip.sh refuses a package whose bytes are not the verified ones" {
  export DR_TO=2.2.0 DR_FROM=2.1.0 DR_WORK_DIR=$W/wd DR_PACKAGE
  DR_PACKAGE=$(pkg good)
  bind_unzip
  DR_PACKAGE_SHA256=$(sha "$(pkg extra)") run "$TOP/scripts/steps/6-upgrade/10-unzip.sh" run
  [ "$status" -eq 1 ]
  [[ $output == *"is not the one the controller verified"* ]]
  [ ! -e "$W/wd/drp-2.2.0" ]
  run "$TOP/scripts/steps/6-upgrade/10-unzip.sh" run  # no DR_PACKAGE_SHA256 at all
  [ "$status" -eq 1 ]
  [[ $output == *"DR_PACKAGE_SHA256"* ]]
}

@test "the drp packages themselves pass the member check" {
  local v
  "$TOP/packaging/drp/build.sh" "$W/pkgs" 2.2.0 1.0.0 2>/dev/null
  for v in 2.2.0 1.0.0; do
    LC_ALL=C tar --quoting-style=c --numeric-owner -tvzf "$W/pkgs/drp-$v.tar.gz" >"$W/listing"
    bash -c 'source "$1/scripts/lib/common.sh"; source "$1/scripts/lib/package.sh"
      package::check_members "$2" "$3"' _ "$TOP" "$W/listing" "drp-$v"
  done
}
