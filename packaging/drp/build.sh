#!/usr/bin/env bash
# Summary: build the drp packages: OUTDIR/drp-<v>.tar.gz + .sha256 for every release in VERSIONS.
# Usage: packaging/drp/build.sh OUTDIR [VERSION...]
#   Reproducible: fixed mtimes (SOURCE_DATE_EPOCH, default 2026-01-01), owner 0:0, sorted
#   members, normalised modes, gzip -n; the same sources give the same sha256.
#   A release's package holds the common sources (src/) plus what that release defines: its
#   VERSION, the migrations (and their rollbacks) and config defaults of every release up to
#   it, and the source changes of every release up to it (changes/<v>.patch, applied oldest
#   first: a release's package never changes when a later release is added).
#   DRP_SIGN_KEY=private.pem (Ed25519 or RSA) also writes drp-<v>.tar.gz.sig with
#   packaging/sign.sh (an Ed25519 signature is deterministic too). `make packages` signs with
#   the TEST-ONLY key of packaging/drp/test-keys (never for production).
set -euo pipefail

HERE="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
SRC="${HERE}/src"
EPOCH="${SOURCE_DATE_EPOCH:-1767225600}"

err() { printf '[%s] [drp-build] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

versions() { grep -Ev '^\s*(#|$)' "${HERE}/VERSIONS"; }

vle() {  # vle A B: A <= B as versions
  [[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n1)" == "$1" ]]
}

stage_release() {
  local v="$1" dir="$2" m base mv
  mkdir -p "${dir}/share/migrations" "${dir}/share/config"
  cp -R "${SRC}/bin" "${SRC}/lib" "${dir}/"
  cp "${SRC}/install.sh" "${dir}/"
  cp -R "${SRC}/share/seed" "${dir}/share/"
  cp "${SRC}/share/config/ini-map.json" "${dir}/share/config/"
  for m in "${SRC}"/share/migrations/*.sql "${SRC}"/share/migrations/rollback/*.sql; do
    [[ -e "${m}" ]] || continue
    base="$(basename "${m}")"
    mv="$(cut -d_ -f2 <<<"${base}")"
    vle "${mv}" "${v}" || continue
    if [[ "${m}" == */rollback/* ]]; then
      mkdir -p "${dir}/share/migrations/rollback"
      cp "${m}" "${dir}/share/migrations/rollback/"
    else
      cp "${m}" "${dir}/share/migrations/"
    fi
  done
  python3 - "${SRC}/share/config/defaults.json" "${dir}/share/config/defaults.json" "${v}" <<'PY'
import json, sys
src, dst, v = sys.argv[1:]
t = lambda s: tuple(int(x) for x in s.split("."))
d = json.load(open(src))
out = {k: val for k, val in d.items() if k == "_comment" or t(k) <= t(v)}
open(dst, "w").write(json.dumps(out, indent=2, sort_keys=True) + "\n")
PY
  local p
  while read -r p; do
    [[ -n "${p}" ]] || continue
    vle "$(basename "${p}" .patch)" "${v}" || continue
    patch --batch --fuzz=0 --no-backup-if-mismatch --quiet -p1 -d "${dir}" <"${p}" >&2 \
      || { err "changes/$(basename "${p}") does not apply to the sources of ${v}"; return 1; }
  done < <(find "${HERE}/changes" -maxdepth 1 -name '*.patch' -printf '%f\n' 2>/dev/null | sort -V |
           sed "s|^|${HERE}/changes/|")
  sed -i "s/^VERSION = \".*\"$/VERSION = \"${v}\"/" "${dir}/lib/drp/version.py"
  grep -q "^VERSION = \"${v}\"$" "${dir}/lib/drp/version.py"
  printf '%s\n' "${v}" >"${dir}/VERSION"
  find "${dir}" -name '__pycache__' -prune -exec rm -rf {} +
  find "${dir}" -type d -exec chmod 0755 {} +
  find "${dir}" -type f -exec chmod 0644 {} +
  chmod 0755 "${dir}/install.sh" "${dir}"/bin/*
  local manifest
  manifest="$(cd "${dir}" && find . -type f -printf '%P\n' | LC_ALL=C sort | xargs -d '\n' sha256sum)"
  printf '%s\n' "${manifest}" >"${dir}/MANIFEST.sha256"
  chmod 0644 "${dir}/MANIFEST.sha256"
}

build_one() {
  local v="$1" out="$2" name
  name="drp-${v}"
  WORK="$(mktemp -d)"
  local work="${WORK}"
  stage_release "${v}" "${work}/${name}"
  LC_ALL=C tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@${EPOCH}" \
    --format=gnu -C "${work}" -cf - "${name}" | gzip -n -9 >"${out}/${name}.tar.gz.part"
  mv -f "${out}/${name}.tar.gz.part" "${out}/${name}.tar.gz"
  (cd "${out}" && sha256sum "${name}.tar.gz" >"${name}.tar.gz.sha256")
  if [[ -n "${DRP_SIGN_KEY:-}" ]]; then
    "${HERE}/../sign.sh" "${DRP_SIGN_KEY}" "${out}/${name}.tar.gz"
  else
    rm -f "${out}/${name}.tar.gz.sig"
  fi
  rm -rf "${work}"
  err "$(cut -c1-16 "${out}/${name}.tar.gz.sha256")…  ${out}/${name}.tar.gz"
}

main() {
  local out="${1:-}" v
  [[ -n "${out}" ]] || { sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; return 2; }
  shift
  mkdir -p "${out}"
  out="$(cd "${out}" && pwd)"
  trap 'rm -rf "${WORK:-}"' EXIT  # a release that fails to stage leaves nothing behind
  local want=("$@")
  ((${#want[@]})) || mapfile -t want < <(versions)
  for v in "${want[@]}"; do
    v="${v#v}"
    versions | grep -qx "${v}" || { err "unknown version ${v}"; return 2; }
    build_one "${v}" "${out}"
  done
}

main "$@"
