#!/usr/bin/env bash
# Summary: fresh install of drp VERSION on every lab node (make lab-install VERSION=X).
# Usage: tests/lab/install.sh [--no-build] VERSION      (VERSION like 2.2.0 or v2.2.0)
#   Reads the nodes and roles from $LAB_DIR/upgrade.ini, copies
#   $DRP_PACKAGES/drp-VERSION.tar.gz (+ .sha256) to each node with scp, verifies the sha256
#   on the node, then runs the package's install.sh step by step across the cluster:
#   wipe+files everywhere, etcd members together, kmc, DB primary, DB replicas, app last.
#   Ends with a health table. A re-run (any version) wipes and reinstalls cleanly.
# Environment: LAB_NAME (drl), LAB_DIR (build/lab, or build/lab-$LAB_NAME),
#   DRP_PACKAGES (build/packages; missing packages are built unless --no-build).
# Exit: 0 installed and healthy, 1 failed, 2 usage.
set -euo pipefail

HERE="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
REPO="$(cd "${HERE}/../.." && pwd)"
LAB_NAME="${LAB_NAME:-drl}"
if [[ "${LAB_NAME}" == drl ]]; then
  LAB_DIR="${LAB_DIR:-${REPO}/build/lab}"
else
  LAB_DIR="${LAB_DIR:-${REPO}/build/lab-${LAB_NAME}}"
fi
PACKAGES="${DRP_PACKAGES:-${REPO}/build/packages}"
REMOTE_DIR=/var/tmp/drp-install

log() { printf '[%s] [lab-install] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SSH_OPTS=()
# The remote command is a string run by the node's shell: only fixed words and node names.
# shellcheck disable=SC2029
ssh_node() { ssh "${SSH_OPTS[@]}" "$1" "${@:2}"; }

#######################################
# Read upgrade.ini: print "NAME ADDRESS ROLES" per node (roles comma-joined).
#######################################
read_nodes() {
  python3 - "${LAB_DIR}/upgrade.ini" <<'PY'
import configparser, sys
cp = configparser.ConfigParser(interpolation=None)
cp.read(sys.argv[1])
for s in cp.sections():
    if s.startswith("node:"):
        roles = ",".join(r.strip() for r in cp.get(s, "roles", fallback="").split(",") if r.strip())
        print(s[5:], cp.get(s, "host"), roles or "-")
PY
}

#######################################
# Write the cluster topology (with fresh random secrets) to $1.
# Globals: NODES ADDRS ROLES (arrays, same index)
#######################################
write_topology() {
  local out="$1" i lines=()
  for i in "${!NODES[@]}"; do lines+=("${NODES[$i]} ${ADDRS[$i]} ${ROLES[$i]}"); done
  python3 - "${LAB_NAME}" "${out}" "${lines[@]}" <<'PY'
import json, os, secrets, sys
nodes = {}
for line in sys.argv[3:]:
    if line.strip():
        name, addr, roles = line.split()
        nodes[name] = {"address": addr, "roles": [] if roles == "-" else roles.split(",")}
topo = {"cluster": sys.argv[1], "nodes": nodes,
        "secrets": {"app_password": secrets.token_hex(12), "repl_password": secrets.token_hex(12),
                    "sdba_password": secrets.token_hex(12), "kmc_token": secrets.token_hex(16),
                    "data_key": secrets.token_hex(32)}}
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump(topo, f, indent=2, sort_keys=True)
PY
}

#######################################
# Run "install.sh STEPS" on the given nodes in parallel; output prefixed by node.
# Arguments: STEPS (space separated) NODE...
#######################################
run_step() {
  local steps="$1" n pids=() names=() rc=0 i
  shift
  (($#)) || return 0
  log "step ${steps}: $*"
  for n in "$@"; do
    # shellcheck disable=SC2086  # steps is a word list on purpose
    ssh_node "${n}" "${REMOTE_DIR}/drp-${VERSION}/install.sh" --topology "${REMOTE_DIR}/topology.json" \
      --node "${n}" ${steps} > >(sed -u "s/^/  ${n}| /" >&2) 2>&1 &
    pids+=($!)
    names+=("${n}")
  done
  for i in "${!pids[@]}"; do
    if ! wait "${pids[$i]}"; then
      log "step ${steps} failed on ${names[$i]}"
      rc=1
    fi
  done
  return "${rc}"
}

nodes_with() {
  local role="$1" i
  for i in "${!NODES[@]}"; do
    [[ ",${ROLES[$i]}," == *",${role},"* ]] && printf '%s\n' "${NODES[$i]}"
  done
  return 0
}

upload() {
  local n="$1" pkg="drp-${VERSION}.tar.gz"
  ssh_node "${n}" "rm -rf ${REMOTE_DIR} && mkdir -p -m 0700 ${REMOTE_DIR}"
  scp -q "${SSH_OPTS[@]}" "${PACKAGES}/${pkg}" "${PACKAGES}/${pkg}.sha256" "${TOPO}" "${n}:${REMOTE_DIR}/"
  ssh_node "${n}" "cd ${REMOTE_DIR} && mv $(basename "${TOPO}") topology.json && sha256sum --quiet -c ${pkg}.sha256 \
    && tar -xzf ${pkg} && test -x drp-${VERSION}/install.sh"
}

# The topology holds the cluster's secrets: it leaves the nodes and this host in any case.
cleanup() {
  local n
  rm -f "${TOPO}"
  for n in "${NODES[@]}"; do
    ssh_node "${n}" "rm -f ${REMOTE_DIR}/topology.json" </dev/null >/dev/null 2>&1 || true
  done
}

summary() {
  local n out rc=0
  printf '%-8s %-8s %-9s %-6s %-6s %-6s\n' NODE VERSION STATUS DB KMC ETCD
  for n in "$@"; do
    out="$(ssh_node "${n}" "curl -sS --max-time 5 http://127.0.0.1:8080/health" 2>/dev/null || true)"
    python3 - "${n}" "${out}" <<'PY' || rc=1
import json, sys
n, raw = sys.argv[1], sys.argv[2]
try:
    h = json.loads(raw)
except ValueError:
    print("%-8s %-8s %-9s" % (n, "-", "no answer")); sys.exit(1)
short = lambda v: "ok" if v == "ok" else "ERR"
print("%-8s %-8s %-9s %-6s %-6s %-6s" % (n, h.get("version"), h.get("status"), short(h.get("db")),
      short(h.get("kmc")), short(h.get("etcd"))))
sys.exit(0 if h.get("status") == "ok" else 1)
PY
  done
  return "${rc}"
}

main() {
  local build=1 name addr roles i start
  while (($#)); do
    case "$1" in
      --no-build) build=0; shift ;;
      -h|--help) sed -n '2,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; return 0 ;;
      -*) die "unknown option $1" ;;
      *) break ;;
    esac
  done
  (($# == 1)) || { sed -n '2,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2; return 2; }
  VERSION="${1#v}"
  [[ "${VERSION}" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { log "bad version '$1'"; return 2; }
  [[ -f "${LAB_DIR}/upgrade.ini" && -f "${LAB_DIR}/ssh_config" ]] \
    || die "no lab at ${LAB_DIR} (run: tests/lab/lab.sh up)"
  if [[ ! -f "${PACKAGES}/drp-${VERSION}.tar.gz" ]]; then
    ((build)) || die "missing ${PACKAGES}/drp-${VERSION}.tar.gz"
    "${REPO}/packaging/drp/build.sh" "${PACKAGES}" "${VERSION}"
  fi
  (cd "${PACKAGES}" && sha256sum --quiet -c "drp-${VERSION}.tar.gz.sha256") \
    || die "${PACKAGES}/drp-${VERSION}.tar.gz does not match its .sha256"
  SSH_OPTS=(-F "${LAB_DIR}/ssh_config" -o BatchMode=yes -o ConnectTimeout=10)
  NODES=() ADDRS=() ROLES=()
  while read -r name addr roles; do
    NODES+=("${name}") ADDRS+=("${addr}") ROLES+=("${roles}")
  done < <(read_nodes)
  ((${#NODES[@]})) || die "no [node:NAME] sections in ${LAB_DIR}/upgrade.ini"
  [[ -n "$(nodes_with db_primary)" ]] || die "no db_primary node in upgrade.ini"
  start=${SECONDS}
  TOPO="$(mktemp "${TMPDIR:-/tmp}/drp-topology.XXXXXX")"
  trap cleanup EXIT
  write_topology "${TOPO}"
  log "installing drp ${VERSION} on ${NODES[*]} (lab ${LAB_DIR})"
  local pids=()
  for i in "${!NODES[@]}"; do upload "${NODES[$i]}" & pids+=($!); done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || die "upload to ${NODES[$i]} failed"; done
  mapfile -t ETCD < <(nodes_with etcd)
  mapfile -t KMC < <(nodes_with kmc)
  mapfile -t PRIMARY < <(nodes_with db_primary)
  mapfile -t REPLICAS < <(nodes_with db_replica)
  mapfile -t APPS < <(nodes_with app)
  run_step "wipe files" "${NODES[@]}" || die "wipe/files failed"
  run_step etcd "${ETCD[@]}" || die "etcd failed"
  run_step kmc "${KMC[@]}" || die "kmc failed"
  run_step db "${PRIMARY[@]}" || die "DB primary failed"
  run_step db "${REPLICAS[@]}" || die "DB replica failed"
  run_step app "${APPS[@]}" || die "app failed"
  log "drp ${VERSION} installed in $((SECONDS - start)) s"
  summary "${APPS[@]}" || die "not every app node is healthy"
}

main "$@"
