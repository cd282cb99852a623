#!/usr/bin/env bash
# Summary: enough free disk for the packages of every hop and their unpacked copies
# Summary-zh: 软件包与解压目录有足够的磁盘空间
# Roles: any
# Timeout: 30
# Estimate: the packages of every hop in the package dir, and in the work dir the checked copy
# of the package plus its unpacked tree and the new release (about 4× the package); 64 MB
# margin on each.
# shellcheck source=scripts/lib/check.sh
source "$(dirname "$(readlink -f "$0")")/../lib/check.sh"

check::run() {
  local pkg=${DR_PACKAGE_BYTES:-0} pdir=${DR_PACKAGE_DIR:-/var/lib/drupgrade/packages}
  local wdir=${DR_WORK_DIR:-/var/lib/drupgrade/work} need_p need_w free_p free_w bad=0 p
  need_p=$((pkg + 64 * 1048576))
  need_w=$((pkg * 4 + 64 * 1048576))
  p=$pdir; while [[ ! -e $p ]]; do p=$(dirname "$p"); done
  local q=$wdir; while [[ ! -e $q ]]; do q=$(dirname "$q"); done
  if [[ $(stat -c %d "$p") == "$(stat -c %d "$q")" ]]; then  # one filesystem: both on it
    need_w=$((need_w + pkg))
    need_p=$need_w
  fi
  free_p=$(check::free_bytes "$pdir")
  free_w=$(check::free_bytes "$wdir")
  check::item "$pdir: $(msg "需要" "need") $(check::mb "$need_p") MB, $(msg "可用" "free") $(check::mb "$free_p") MB"
  check::item "$wdir: $(msg "需要" "need") $(check::mb "$need_w") MB, $(msg "可用" "free") $(check::mb "$free_w") MB"
  ((free_p >= need_p)) || bad=1
  ((free_w >= need_w)) || bad=1
  if ((bad)); then
    check::result fail "软件包目录空间不足：$pdir 需要 $(check::mb "$need_p")MB（可用 $(check::mb "$free_p")MB），$wdir 需要 $(check::mb "$need_w")MB（可用 $(check::mb "$free_w")MB）" \
      "not enough free disk for the package: $pdir needs $(check::mb "$need_p") MB ($(check::mb "$free_p") MB free), $wdir needs $(check::mb "$need_w") MB ($(check::mb "$free_w") MB free)" \
      "请清理这些目录所在的文件系统（df -h $pdir $wdir）" "free space on their filesystems (df -h $pdir $wdir)"
  else
    check::result pass "软件包空间充足" "enough disk for the package"
  fi
}
check::main "$@"
