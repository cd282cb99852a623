# shellcheck shell=bash
# Unpack a package on a node exactly as the controller verified it (S4). One private copy of the
# received file is hashed against the sha256 the controller computed from the verified file
# (DR_PACKAGE_SHA256, never a .sha256 that travelled with the package); that same copy is listed,
# its members checked, extracted, and the tree compared with its MANIFEST.sha256. Nothing here
# knows the product: the caller names the top directory. Sourced after common.sh.

#######################################
# Check a member listing made by `LC_ALL=C tar --quoting-style=c --numeric-owner -tvzf PKG`:
# only plain files and directories under TOP/. Refused: links (symbolic and hard), devices,
# fifos and other special files, setuid/setgid bits, absolute names, '..', another top
# directory, and any name tar had to escape (quotes, backslashes, control or non-ASCII
# characters). C quoting keeps every member on one line and the type and mode come first, so a
# name holding ' -> ', ' link to ' or a newline cannot pass for something else.
# Arguments: listing file, top directory name
# Outputs: one log line per refused member (stderr)
# Returns: 0 when every member is allowed, 1 otherwise
#######################################
package::check_members() {
  local listing=$1 top=$2 line type perm name why bad=0
  local re='^.([-rwxsStT]{9}) [0-9]+/[0-9]+ +[0-9]+ [^ ]+ [^ ]+ "([^"\\]*)"$'
  while IFS= read -r line || [[ -n $line ]]; do
    type=${line:0:1} why=""
    if [[ $type == [hl] ]]; then
      why=$(msg "链接（软件包中不允许符号链接和硬链接）" "a link (symbolic and hard links are not allowed in a package)")
    elif [[ $type != [-d] ]]; then
      why=$(msg "设备、FIFO 或其他特殊文件" "a device, fifo or other special file")
    elif [[ ! $line =~ $re ]]; then
      why=$(msg "名称含引号、反斜杠、控制字符或非 ASCII 字符" "a name with quotes, backslashes, control or non-ASCII characters")
    else
      perm=${BASH_REMATCH[1]} name=${BASH_REMATCH[2]}
      if [[ ${perm:2:1} == [sS] || ${perm:5:1} == [sS] ]]; then
        why=$(msg "带 setuid 或 setgid 位" "has the setuid or setgid bit")
      elif [[ $name != "$top/"* || /$name/ == */../* ]]; then
        why=$(msg "在 $top/ 之外（绝对路径、.. 或其他顶层目录）" "outside $top/ (absolute, '..' or another top directory)")
      fi
    fi
    if [[ -n $why ]]; then
      log "不允许的软件包成员，$why: $line" "member not allowed, $why: $line"
      bad=1
    fi
  done <"$listing"
  return "$bad"
}

#######################################
# Check an extracted tree against its MANIFEST.sha256: every entry verifies, and every path in
# the tree is an entry (or a directory holding one, or the manifest itself).
# Arguments: the tree's directory
# Outputs: one log line per problem (stderr)
# Returns: 0 when the tree is exactly its manifest, 1 otherwise
#######################################
package::check_tree() {
  local dir=$1 line path bad=0
  local -A files=() dirs=()
  if [[ ! -f $dir/MANIFEST.sha256 ]] || ! (cd "$dir" && sha256sum --quiet --strict -c MANIFEST.sha256 >&2); then
    log "解压结果与其 MANIFEST.sha256 不符" "the unpacked files fail their MANIFEST.sha256"
    return 1
  fi
  while IFS= read -r line || [[ -n $line ]]; do
    path=${line:66}  # "HASH  PATH" (or "HASH *PATH"), as sha256sum writes it
    path=${path#./}
    files[$path]=1
    while [[ $path == */* ]]; do
      path=${path%/*}
      dirs[$path]=1
    done
  done <"$dir/MANIFEST.sha256"
  while IFS= read -r -d '' path; do
    if [[ -L $dir/$path ]]; then
      :
    elif [[ -d $dir/$path ]]; then
      [[ -n ${dirs[$path]+x} ]] && continue
    elif [[ -f $dir/$path ]]; then
      [[ -n ${files[$path]+x} || $path == MANIFEST.sha256 ]] && continue
    fi
    log "解压结果中有 MANIFEST.sha256 未列出的路径: $(printf '%q' "$path")" \
      "the unpacked tree holds a path its MANIFEST.sha256 does not list: $(printf '%q' "$path")"
    bad=1
  done < <(find "$dir" -mindepth 1 -printf '%P\0')
  return "$bad"
}

#######################################
# Copy a received package into a private work dir, check that copy's sha256, list and check its
# members, extract it and check the tree against its manifest. The caller moves WORK/tree/TOP
# into place and removes WORK.
# Arguments: package file, expected sha256 (from the controller), top directory name, work dir
#   (created 0700; an old one of that name is removed first)
# Returns: 0, or dies with the reason (zh, en)
#######################################
package::extract() {
  local pkg=$1 want=$2 top=$3 work=$4 got
  [[ $want =~ ^[0-9a-f]{64}$ ]] ||
    die "上下文中没有控制节点校验过的软件包 sha256（DR_PACKAGE_SHA256），请重新执行 bin/upgrade.sh retry" \
      "the context has no sha256 of the package verified by the controller (DR_PACKAGE_SHA256): run bin/upgrade.sh retry"
  [[ -f $pkg ]] || die "软件包 $pkg 不存在" "package $pkg is missing"
  rm -rf "${work:?}"
  mkdir -m 0700 "$work"
  cp -- "$pkg" "$work/package"  # the one copy that is hashed, listed and extracted
  got=$(sha256sum <"$work/package")
  got=${got%% *}
  [[ $got == "$want" ]] ||
    die "本节点上的软件包 $pkg（sha256 $got）不是控制节点校验过的那个（sha256 $want）：它在上传后被改动或损坏。不要使用它；查明原因，把控制节点上校验过的软件包复制到 $pkg，再执行 bin/upgrade.sh retry" \
      "the package $pkg on this node (sha256 $got) is not the one the controller verified (sha256 $want): it was changed or damaged after the upload. Do not use it: find out why, copy the verified package from the controller to $pkg, then run bin/upgrade.sh retry"
  LC_ALL=C tar --quoting-style=c --numeric-owner -tvzf "$work/package" >"$work/listing" ||
    die "软件包 $pkg 不是可读的 tar.gz" "package $pkg is not a readable tar.gz"
  package::check_members "$work/listing" "$top" ||
    die "软件包 $pkg 含不允许的成员（见上），拒绝解压" "package $pkg has members that are not allowed (see above): refusing to unpack"
  mkdir "$work/tree"
  # umask 022: --no-same-permissions applies it, so the tree keeps the package's modes less group/other write.
  (umask 022 && tar -C "$work/tree" --no-same-owner --no-same-permissions --no-overwrite-dir -xzf "$work/package")
  package::check_tree "$work/tree/$top" ||
    die "软件包 $pkg 的解压结果与其清单不符" "the unpacked package $pkg does not match its manifest"
}
