#!/usr/bin/env bash
# Summary: installed system patches (package manager records); the operator confirms
# Summary-zh: 检查系统补丁安装记录（由用户确认是否继续升级）
# Roles: any
# Timeout: 60
# A system patch is a package the package manager records as installed whose name marks it as
# a patch: a word patch, hotfix, hotpatch or livepatch in the name (kpatch-patch-*, *-hotfix-*,
# linux-livepatch-*, ...), or whose section/group is Patch or Hotfix, or whose one-line summary
# says hotfix, hot patch, live patch, system patch or security patch. rpm family (CentOS,
# openEuler, Kylin): `rpm -qa`; dpkg family (Debian, Ubuntu, UOS): `dpkg-query` (status ii).
# The tools patch/patchutils/quilt themselves are not patches. docs/precheck.md says more.
# shellcheck source=scripts/lib/check.sh
source "$(dirname "$(readlink -f "$0")")/../lib/check.sh"

NAME_RE='(^|[-_.])(patch|hotfix|hotpatch|livepatch)([-_.0-9]|$)'
GROUP_RE='^(patch|patches|hotfix|hotfixes)$'
SUMMARY_RE='(^|[^a-z])(hotfix|hot-?patch|live-?patch|system patch|security patch)([^a-z]|$)'
TOOLS_RE='^(patch|patchutils|quilt|libpatch.*|python3?-patch(-ng)?)$'

# Records "manager<TAB>name<TAB>version<TAB>group<TAB>summary" of every installed package.
installed() {
  if command -v rpm >/dev/null 2>&1 && rpm -qa >/dev/null 2>&1; then
    rpm -qa --qf '%{NAME}\t%{VERSION}-%{RELEASE}\t%{GROUP}\t%{SUMMARY}\n' 2>/dev/null | sed 's/^/rpm\t/'
  fi
  if command -v dpkg-query >/dev/null 2>&1; then
    dpkg-query -W -f '${db:Status-Abbrev}\t${Package}\t${Version}\t${Section}\t${binary:Summary}\n' 2>/dev/null |
      awk -F '\t' '$1 ~ /^ii/ {printf "dpkg\t%s\t%s\t%s\t%s\n", $2, $3, ($4 == "" ? "-" : $4), $5}'
  fi
}

check::run() {
  local mgr pkg ver group summary lgroup found=()
  while IFS=$'\t' read -r mgr pkg ver group summary; do
    [[ $pkg =~ $TOOLS_RE ]] && continue
    lgroup=${group##*/}
    lgroup=${lgroup,,}
    if [[ ${pkg,,} =~ $NAME_RE || $lgroup =~ $GROUP_RE || ${summary,,} =~ $SUMMARY_RE ]]; then
      found+=("$pkg $ver")
      check::item "$mgr: $pkg $ver"
    fi
  done < <(installed)
  if ((${#found[@]} == 0)); then
    check::result pass "未发现系统补丁安装记录" "no installed system patch recorded"
    return 0
  fi
  local list
  list=$(printf '%s, ' "${found[@]}")
  list=${list%, }
  check::result ask "发现节点[${DR_NODE:-$(hostname)}]已安装补丁[$list]，可能影响升级兼容性，是否继续升级？(Y/N)" \
    "node [${DR_NODE:-$(hostname)}] has patches installed [$list], which may affect upgrade compatibility; continue the upgrade? (Y/N)" \
    "确认补丁与目标版本兼容后，用 --yes 或答复文件（--answers FILE）回答" \
    "once the patches are known to be compatible with the target, answer with --yes or an answers file (--answers FILE)"
}
check::main "$@"
