# shellcheck shell=bash
# Sourced by bin/*: find python3 >= 3.6 and make the private venv offline from wheelhouse/.
#
# bootstrap::python exports DRUPGRADE_VENV, a venv holding the controller's dependencies.
# Tarball: checks $ROOT/wheelhouse against its SHA256SUMS, then installs it with
# `pip --no-index --require-hashes` (every wheel's sha256 is in its requirements); no network.
# Source checkout: $ROOT/build/wheelhouse (make dist), else a dev venv $ROOT/build/venv
# from the package registry. A stamp (requirements + interpreter) makes later runs free.
# Environment: DRUPGRADE_PYTHON (default python3), DRUPGRADE_VENV (default $ROOT/.venv).

#######################################
# Print an error in Chinese and English to stderr and exit.
# Arguments: exit code, Chinese text, English text
#######################################
bootstrap::die() {
  printf '错误：%s\nerror: %s\n' "$2" "$3" >&2
  exit "$1"
}

#######################################
# Check the wheelhouse against its SHA256SUMS before anything from it is installed: a wheel (or
# requirements file) that is missing, changed or not listed stops the install, named.
# Arguments: wheelhouse dir
# Outputs: what is wrong, in Chinese and English (stderr)
# Returns: 0 when every file matches, 1 otherwise
#######################################
bootstrap::check_wheelhouse() {
  local wh=$1 line bad=() f
  if [[ ! -f $wh/SHA256SUMS ]]; then
    printf '错误：%s 中没有 SHA256SUMS，无法校验 wheel。
error: %s has no SHA256SUMS: its wheels cannot be checked.
' \
      "$wh" "$wh" >&2
    return 1
  fi
  while IFS= read -r line; do
    [[ $line == *': OK' ]] || bad+=("${line%: *}")
  done < <(cd "$wh" && LC_ALL=C sha256sum --strict -c SHA256SUMS 2>/dev/null)
  for f in "$wh"/*.whl "$wh/requirements.txt" "$wh/pip.txt"; do
    [[ -e $f ]] || continue
    grep -qF -- "  ${f##*/}" "$wh/SHA256SUMS" || bad+=("${f##*/}")
  done
  ((${#bad[@]} == 0)) && return 0
  for f in "${bad[@]}"; do
    printf '错误：wheelhouse 中的 %s 与 %s/SHA256SUMS 不符（缺失、被改动或未列出）。
error: %s in the wheelhouse does not match %s/SHA256SUMS (missing, changed or not listed).
' \
      "$f" "$wh" "$f" "$wh" >&2
  done
  printf '请重新解压完整的 drupgrade 安装包，解压前先校验它（docs/install.md）。
unpack the complete drupgrade tarball again, after checking it (docs/install.md).
' >&2
  return 1
}

#######################################
# Build a venv in a temp dir beside DEST and rename it into place; nothing half-made stays.
# Arguments: python, DEST, wheelhouse dir ("" = the registry), requirements dir, stamp
# Returns: 0, or 1 after pip has said what failed
#######################################
bootstrap::_build() (
  local py=$1 dest=$2 wh=$3 reqdir=$4 stamp=$5 tmp pip
  # Leftovers of a build killed with -9 (a live build is minutes old at most).
  find "$(dirname "$dest")" -maxdepth 1 -name "$(basename "$dest").tmp.*" -mmin +60 \
    -exec rm -rf {} + 2>/dev/null
  tmp=$(mktemp -d "$dest.tmp.XXXXXX") || return 1
  trap 'rm -rf "$tmp"' EXIT
  trap 'exit 130' INT TERM
  unset PYTHONPATH PYTHONHOME  # the caller's, not ours: only in this subshell
  pip=("$tmp/bin/python" -m pip install -q --disable-pip-version-check)
  # The wheelhouse: its SHA256SUMS first, then every wheel against the hashes of its requirements.
  [[ -n $wh ]] && pip+=(--isolated --no-index --find-links "$wh" --require-hashes)
  if [[ -n $wh ]]; then bootstrap::check_wheelhouse "$wh" || return 1; fi
  "$py" -m venv "$tmp" || return 1
  "${pip[@]}" -r "$reqdir/pip.txt" || return 1
  "${pip[@]}" -r "$reqdir/requirements.txt" || return 1
  "$tmp/bin/python" -W ignore -c 'import pexpect, psutil, jsonschema, paramiko, rich' || return 1
  # Bytecode for the controller too (every command starts faster; PYTHONDONTWRITEBYTECODE or a
  # read-only tree would otherwise compile it in memory on every start).
  "$tmp/bin/python" -m compileall -q "$(dirname "${BASH_SOURCE[0]}")/python" >/dev/null 2>&1 || true
  # Scripts in bin/ name the temp dir: point them at the final place before the rename.
  "$tmp/bin/python" - "$tmp" "$dest" <<'EOF' || return 1
import os, sys
old, new = (p.encode() for p in sys.argv[1:])
for d in (os.path.join(sys.argv[1], "bin"), sys.argv[1]):
    for n in os.listdir(d):
        p = os.path.join(d, n)
        if os.path.isfile(p) and not os.path.islink(p):
            with open(p, "rb") as f:
                data = f.read()
            if old in data:
                with open(p, "wb") as f:
                    f.write(data.replace(old, new))
EOF
  printf '%s\n' "$stamp" >"$tmp/.drupgrade-stamp"
  chmod 755 "$tmp"
  # Another run may have finished the same venv meanwhile: keep that one, it may be in use.
  [[ -f $dest/.drupgrade-stamp && $(<"$dest/.drupgrade-stamp") == "$stamp" ]] && return 0
  rm -rf "$dest"
  mv -T "$tmp" "$dest" || return 1
)

#######################################
# Make sure the private venv exists and matches; export DRUPGRADE_VENV.
# Globals: DRUPGRADE_PYTHON, DRUPGRADE_VENV (read; the latter exported)
# Returns: 0; exits 2 when no usable Python is found or the install fails
#######################################
bootstrap::python() {
  local root py info ver wh reqdir venv stamp fast
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  py=${DRUPGRADE_PYTHON:-python3}
  if [[ -d $root/wheelhouse ]]; then
    wh=$root/wheelhouse reqdir=$root/wheelhouse venv=${DRUPGRADE_VENV:-$root/.venv}
  elif [[ -d $root/build/wheelhouse ]]; then
    wh=$root/build/wheelhouse reqdir=$root/build/wheelhouse venv=${DRUPGRADE_VENV:-$root/.venv}
  else  # a source checkout without `make dist`: dev convenience, never in the tarball
    wh="" reqdir=$root/packaging/wheels venv=${DRUPGRADE_VENV:-$root/build/venv}
  fi
  # Fast path, no interpreter started (each command starts ~0.1 s sooner): the venv was checked
  # against this same interpreter file and these requirement files, and none changed since.
  fast=$(bootstrap::_fingerprint "$py" "$reqdir")
  if [[ -n $fast && -x $venv/bin/python && -f $venv/.drupgrade-fast \
        && $(<"$venv/.drupgrade-fast") == "$fast" ]]; then
    export DRUPGRADE_VENV=$venv
    return 0
  fi
  command -v "$py" >/dev/null 2>&1 \
    || bootstrap::die 2 "找不到 Python 解释器 $py。需要 Python 3.6 或更高版本；可用 DRUPGRADE_PYTHON 指定。" \
      "Python interpreter $py not found. Python 3.6 or newer is needed; DRUPGRADE_PYTHON may name one."
  info=$("$py" -c 'import os, sys; print("%d.%d.%d" % sys.version_info[:3])
print(os.path.realpath(sys.executable)); print(sys.version)' 2>/dev/null) \
    || bootstrap::die 2 "无法运行 $py。" "cannot run $py."
  ver=${info%%$'\n'*}
  local major=${ver%%.*} minor=${ver#*.}
  minor=${minor%%.*}
  if ((major < 3 || (major == 3 && minor < 6))); then
    bootstrap::die 2 "$py 的版本是 Python $ver，太旧；需要 Python 3.6 或更高版本（可用 DRUPGRADE_PYTHON 指定）。" \
      "$py is Python $ver, which is too old; Python 3.6 or newer is needed (DRUPGRADE_PYTHON may name one)."
  fi

  stamp=$({ cat "$reqdir/requirements.txt" "$reqdir/pip.txt"; printf '%s\n' "$info"; } \
    | sha256sum | cut -d' ' -f1)
  export DRUPGRADE_VENV=$venv
  # A venv whose interpreter is gone (bin/python dangles: the pyenv version or the python3 path it
  # was made from was removed) is rebuilt: its stamps go first, or the build would keep it as one
  # "finished meanwhile by another run" (same interpreter file, same stamp) and exec would fail.
  if [[ -e $venv && ! -x $venv/bin/python ]]; then
    printf '%s 的 Python 解释器已不存在，正在重建该运行环境\nthe interpreter of %s is gone: rebuilding it\n' \
      "$venv" "$venv" >&2
    rm -f "$venv/.drupgrade-stamp" "$venv/.drupgrade-fast"
  fi
  if [[ -x $venv/bin/python && -f $venv/.drupgrade-stamp \
        && $(<"$venv/.drupgrade-stamp") == "$stamp" ]]; then
    printf '%s\n' "$fast" 2>/dev/null >"$venv/.drupgrade-fast" || true
    return 0
  fi

  "$py" -c 'import venv, ensurepip' >/dev/null 2>&1 \
    || bootstrap::die 2 "$py (Python $ver) 缺少 venv/ensurepip 模块。请安装 python3-venv 软件包（Debian/Ubuntu/UOS：apt-get install python3-venv 或 python$major.$minor-venv；CentOS/openEuler/Kylin：yum install python3-libs python3-pip-wheel）。" \
      "$py (Python $ver) lacks the venv/ensurepip modules. Install the python3-venv package (Debian/Ubuntu/UOS: apt-get install python3-venv or python$major.$minor-venv; CentOS/openEuler/Kylin: yum install python3-libs python3-pip-wheel)."
  mkdir -p "$(dirname "$venv")"
  printf '正在创建 Python 运行环境 %s（仅首次运行），来源：%s\ncreating the Python environment %s (first run only) from %s\n' \
    "$venv" "${wh:-PyPI}" "$venv" "${wh:-PyPI}" >&2
  bootstrap::_build "$py" "$venv" "$wh" "$reqdir" "$stamp" \
    || bootstrap::die 2 "无法从 ${wh:-PyPI} 安装依赖到 $venv（原因见上方 pip 的输出）。" \
      "could not install the dependencies from ${wh:-PyPI} into $venv (pip says why above)."
  printf '%s\n' "$fast" 2>/dev/null >"$venv/.drupgrade-fast" || true
}

#######################################
# What the fast path compares: the interpreter's real file and the requirement files, each with
# its size and mtime (empty when the interpreter is not found).
# Arguments: python, requirements dir
#######################################
bootstrap::_fingerprint() {
  local exe
  exe=$(command -v "$1" 2>/dev/null) && exe=$(readlink -f "$exe") || return 0
  stat -L -c '%n %s %Y' "$exe" "$2/requirements.txt" "$2/pip.txt" 2>/dev/null || true
}
