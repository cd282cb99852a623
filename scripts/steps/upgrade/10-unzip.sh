#!/usr/bin/env bash
# Summary: unpack the new package (verified, no tar slip)
# Summary-zh: 解压
# Phase: upgrade
# Timeout: 600
# Retry: direct
# Done: the unpacked package is complete (its MANIFEST.sha256 verifies)
# Cleanup: full environment cleanup (§4.2.5): new services, program, config, database, temp files
# Roles: any
# Kind: file
# Subject: /var/lib/drupgrade/work
# shellcheck source=scripts/lib/step.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/step.sh"
# shellcheck source=scripts/lib/drp.sh
source "$(dirname "$(readlink -f "$0")")/../../lib/drp.sh"

step::check() {
  local dir
  dir=$(drp::unpack_dir)
  [[ -f $dir/MANIFEST.sha256 && -f $dir/.unpacked ]] && (cd "$dir" && sha256sum --quiet --strict -c MANIFEST.sha256)
}
step::cleanup() { drp::env_cleanup; }

#######################################
# Refuse members that are absolute, climb out with .., or are links pointing outside (S4).
#######################################
check_members() {
  local pkg=$1 top=$2 bad
  bad=$(tar -tvzf "$pkg" | awk -v top="$top/" '
    { name = $6; for (i = 7; i <= NF; i++) name = name " " $i }
    substr($1, 1, 1) == "h" || substr($1, 1, 1) == "l" {
      split(name, parts, " -> "); name = parts[1]; target = parts[2]
      if (target ~ /^\// || target ~ /(^|\/)\.\.(\/|$)/) { print name " -> " target; next }
    }
    name ~ /^\// || name ~ /(^|\/)\.\.(\/|$)/ || index(name, top) != 1 { print name }')
  [[ -z $bad ]] || die "软件包包含不安全的成员，拒绝解压: $bad" "the package has unsafe members, refusing to unpack: $bad"
}

step::run() {
  local dir pkg=${DR_PACKAGE:?} root
  dir=$(drp::unpack_dir)
  if step::check; then
    log "软件包已解压，跳过" "the package is already unpacked: skipping"
    return 0
  fi
  if [[ -e $dir ]]; then
    log "发现上次解压的残留，先清理环境" "found an earlier unpack: cleaning the environment first"
    drp::env_cleanup
  fi
  [[ -f $pkg && -f $pkg.sha256 ]] || die "软件包 $pkg 或其 .sha256 不存在" "package $pkg or its .sha256 is missing"
  (cd "$(dirname "$pkg")" && sha256sum --quiet --strict -c "$(basename "$pkg").sha256") ||
    die "软件包 $pkg 的 sha256 校验失败" "package $pkg fails its sha256 check"
  check_members "$pkg" "drp-$DR_TO"
  root=$(dirname "$dir")
  mkdir -p "$root"
  rm -rf "$dir.part"
  mkdir "$dir.part"
  tar -C "$dir.part" --no-same-owner --no-overwrite-dir -xzf "$pkg"
  step::point "after extracting"
  mv "$dir.part/drp-$DR_TO" "$dir"
  rmdir "$dir.part"
  (cd "$dir" && sha256sum --quiet --strict -c MANIFEST.sha256) || die "解压结果校验失败" "the unpacked files fail their manifest"
  [[ $(cat "$dir/VERSION") == "$DR_TO" ]] || die "软件包版本不是 $DR_TO" "the package is not version $DR_TO"
  touch "$dir/.unpacked"
}
step::main "$@"
