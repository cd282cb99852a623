# shellcheck shell=bash
# What every product's build.sh shares (sourced): release staging rules and a reproducible,
# signed tarball. Same sources, same bytes: fixed mtimes (SOURCE_DATE_EPOCH, default
# 2026-01-01), owner 0:0, sorted members, normalised modes, gzip -n.
# Callers set PKG_LOG (the log tag) before sourcing.

PKG_EPOCH="${SOURCE_DATE_EPOCH:-1767225600}"

pkg::err() { printf '[%s] [%s] %s\n' "$(date -u +%H:%M:%S)" "${PKG_LOG:-build}" "$*" >&2; }

# The releases of a VERSIONS file, oldest first (comments and blank lines skipped).
pkg::versions() { grep -Ev '^\s*(#|$)' "$1"; }

pkg::vle() {  # vle A B: A <= B as versions
  [[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" == "$1" ]]
}

#######################################
# Copy the migrations of every release up to V (NNNN_<version>_... .sql) and their rollbacks
# (rollback/ beside them; the directory only when a release up to V has one).
# Arguments: source migrations dir, target migrations dir, V
#######################################
pkg::copy_migrations() {
  local from="$1" to="$2" v="$3" m base mv
  mkdir -p "${to}"
  for m in "${from}"/*.sql "${from}"/rollback/*.sql; do
    [[ -e "${m}" ]] || continue
    base="$(basename "${m}")"
    mv="$(cut -d_ -f2 <<<"${base}")"
    pkg::vle "${mv}" "${v}" || continue
    if [[ "${m}" == */rollback/* ]]; then
      mkdir -p "${to}/rollback"
      cp "${m}" "${to}/rollback/"
    else
      cp "${m}" "${to}/"
    fi
  done
}

#######################################
# Copy a JSON file keyed by release ("1.5.0": {...}; "_comment" kept) keeping the releases up to V.
# Arguments: source file, target file, V
#######################################
pkg::filter_releases() {
  python3 - "$1" "$2" "$3" <<'PY'
import json, sys
src, dst, v = sys.argv[1:]
t = lambda s: tuple(int(x) for x in s.split("."))
d = json.load(open(src))
out = {k: val for k, val in d.items() if k == "_comment" or t(k) <= t(v)}
open(dst, "w").write(json.dumps(out, indent=2, sort_keys=True) + "\n")
PY
}

#######################################
# Apply the source changes of every release up to V (CHANGES/<version>.patch), oldest first: a
# released package never changes when a later release is added.
# Arguments: changes dir, staged release dir, V
#######################################
pkg::apply_changes() {
  local changes="$1" dir="$2" v="$3" p
  while read -r p; do
    [[ -n "${p}" ]] || continue
    pkg::vle "${p%.patch}" "${v}" || continue
    patch --batch --fuzz=0 --no-backup-if-mismatch --quiet -p1 -d "${dir}" <"${changes}/${p}" >&2 \
      || { pkg::err "changes/${p} does not apply to the sources of ${v}"; return 1; }
  done < <(find "${changes}" -maxdepth 1 -name '*.patch' -printf '%f\n' 2>/dev/null | sort -V)
}

#######################################
# Normalise a staged release (no caches, dirs 0755, files 0644, EXECUTABLES 0755) and write its
# MANIFEST.sha256 (every file, sorted).
# Arguments: staged release dir, executables (paths relative to it, globs allowed)...
#######################################
pkg::finish() {
  local dir="$1" manifest x
  shift
  find "${dir}" -name '__pycache__' -prune -exec rm -rf {} +
  find "${dir}" -type d -exec chmod 0755 {} +
  find "${dir}" -type f -exec chmod 0644 {} +
  for x in "$@"; do
    # shellcheck disable=SC2086  # x may be a glob on purpose
    chmod 0755 "${dir}"/${x}
  done
  manifest="$(cd "${dir}" && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum)"
  printf '%s\n' "${manifest}" >"${dir}/MANIFEST.sha256"
  chmod 0644 "${dir}/MANIFEST.sha256"
}

#######################################
# OUT/NAME.tar.gz + .sha256 from WORK/NAME, signed with KEY (packaging/sign.sh) when KEY is set;
# else any old .sig goes.
# Arguments: work dir holding NAME, NAME, OUT, KEY (may be empty)
#######################################
pkg::pack() {
  local work="$1" name="$2" out="$3" key="${4:-}"
  LC_ALL=C tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@${PKG_EPOCH}" \
    --format=gnu -C "${work}" -cf - "${name}" | gzip -n -9 >"${out}/${name}.tar.gz.part"
  mv -f "${out}/${name}.tar.gz.part" "${out}/${name}.tar.gz"
  (cd "${out}" && sha256sum "${name}.tar.gz" >"${name}.tar.gz.sha256")
  if [[ -n "${key}" ]]; then
    "$(dirname "${BASH_SOURCE[0]}")/sign.sh" "${key}" "${out}/${name}.tar.gz"
  else
    rm -f "${out}/${name}.tar.gz.sig"
  fi
  pkg::err "$(cut -c1-16 "${out}/${name}.tar.gz.sha256")…  ${out}/${name}.tar.gz"
}

#######################################
# A product's build.sh main: OUT [VERSION...] (default every release of HERE/VERSIONS). The caller
# defines stage_release V DIR (fill DIR with release V) and usage.
# Arguments: product dir, product name, signing key (may be empty), OUT, VERSION...
# Exit: 2 on usage or an unknown version.
#######################################
pkg::main() {
  local here="$1" name="$2" key="$3" out="${4:-}" v
  [[ -n "${out}" ]] || { usage >&2; return 2; }
  shift 4
  mkdir -p "${out}"
  out="$(cd "${out}" && pwd)"
  trap 'rm -rf "${PKG_WORK:-}"' EXIT  # a release that fails to stage leaves nothing behind
  local want=("$@")
  ((${#want[@]})) || mapfile -t want < <(pkg::versions "${here}/VERSIONS")
  for v in "${want[@]}"; do
    v="${v#v}"
    pkg::versions "${here}/VERSIONS" | grep -qx "${v}" || { pkg::err "unknown version ${v}"; return 2; }
    PKG_WORK="$(mktemp -d)"
    stage_release "${v}" "${PKG_WORK}/${name}-${v}"
    pkg::pack "${PKG_WORK}" "${name}-${v}" "${out}" "${key}"
    rm -rf "${PKG_WORK}"
  done
}
