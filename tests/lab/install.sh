#!/usr/bin/env bash
# Summary: fresh install of a product VERSION on every lab node (make lab-install [PRODUCT=arc] VERSION=X).
# Usage: tests/lab/install.sh [--product NAME] [--no-build] [--mixed NODE=V[,NODE=V]] VERSION   (VERSION like 2.2.0)
#        tests/lab/install.sh --product NAME --uninstall           remove the product from every node
#        tests/lab/install.sh --product NAME --point-only          only point upgrade.ini at the product
#   The product (default drp, or $PRODUCT) is packaging/NAME: its lab.json says the roles of the
#   lab's nodes, the topology's secrets, the order of its install.sh steps across the cluster and
#   its health endpoints. Points the lab's upgrade.ini (and upgrade-key.ini) at the product:
#   [product] name (no section for drp, the default), the roles per [node:*], [packages]
#   public_key (the product's TEST-ONLY key). Copies $DRP_PACKAGES/NAME-VERSION.tar.gz (+ .sha256)
#   to each node with scp, verifies the sha256 on the node, runs the package's install.sh step by
#   step across the cluster, ends with a health table. A re-run (any version) wipes and
#   reinstalls cleanly. --uninstall runs the product's wipe step everywhere and points the lab
#   back at drp. --mixed node3=2.1.0 (make lab-install MIXED=...): after the install, each named
#   node is upgraded by hand to its version, alone (lab.json upgrade_node): a mixed cluster.
# Environment: PRODUCT (drp), LAB_NAME (drl), LAB_DIR (build/lab, or build/lab-$LAB_NAME),
#   DRP_PACKAGES (build/packages, every product's packages; missing ones are built unless --no-build).
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
DEFAULT_PRODUCT=drp

log() { printf '[%s] [lab-install] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
usage() { sed -n '2,21s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

SSH_OPTS=()
# The remote command is a string run by the node's shell: only fixed words and node names.
# shellcheck disable=SC2029
ssh_node() { ssh "${SSH_OPTS[@]}" "$1" "${@:2}"; }

#######################################
# The product's lab plan from packaging/PRODUCT/lab.json and the lab's upgrade.ini, one line each:
#   node NAME ADDRESS ROLES | require ROLE | step STEPS|ROLE | health ROLE URL | secret NAME BYTES | key FILE
#   | units GLOB
# Arguments: product
#######################################
plan() {
  python3 - "${REPO}/packaging/$1/lab.json" "${LAB_DIR}/upgrade.ini" <<'PY'
import configparser, json, os, sys
desc = json.load(open(sys.argv[1]))
cp = configparser.ConfigParser(interpolation=None)
cp.read(sys.argv[2])
for s in cp.sections():
    if s.startswith("node:"):
        name = s[5:]
        roles = desc["roles"].get(name, desc["roles"].get("*", []))
        print("node", name, cp.get(s, "host"), ",".join(roles) or "-")
for role in desc.get("require", []):
    print("require", role)
for steps, role in desc["install"]:
    print("step %s|%s" % (steps, role))
for h in desc.get("health", []):
    print("health", h["role"], h["url"])
for name, size in sorted(desc.get("secrets", {}).items()):
    print("secret", name, size)
print("key", os.path.join(os.path.dirname(sys.argv[1]), desc["public_key"]))
print("units", desc["units"])
for command in desc.get("upgrade_node", []):
    print("byhand", command)
schema = desc.get("upgrade_schema")
if schema:
    print("schemarole", schema["role"])
    for command in schema["commands"]:
        print("schema", command)
PY
}

#######################################
# Read the plan of a product into NODES ADDRS ROLES (same index), REQUIRE, STEPS ("STEPS|ROLE"),
# HEALTH ("ROLE URL"), SECRETS ("NAME BYTES"), PUBKEY and UNIT_GLOB.
# Arguments: product
#######################################
load_plan() {
  local kind a b c
  NODES=() ADDRS=() ROLES=() STEPS=() HEALTH=() SECRETS=() REQUIRE=() BYHAND=() SCHEMA=() SCHEMA_ROLE="" PUBKEY=""
  UNIT_GLOB=""
  while read -r kind a b c; do
    case "${kind}" in
      node) NODES+=("${a}") ADDRS+=("${b}") ROLES+=("${c}") ;;
      require) REQUIRE+=("${a}") ;;
      step) STEPS+=("${a}${b:+ ${b}}${c:+ ${c}}") ;;
      health) HEALTH+=("${a} ${b}") ;;
      secret) SECRETS+=("${a} ${b}") ;;
      key) PUBKEY="${a}" ;;
      units) UNIT_GLOB="${a}" ;;
      byhand) BYHAND+=("${a}${b:+ ${b}}${c:+ ${c}}") ;;
      schemarole) SCHEMA_ROLE="${a}" ;;
      schema) SCHEMA+=("${a}${b:+ ${b}}${c:+ ${c}}") ;;
    esac
  done < <(plan "$1")
}

#######################################
# Point upgrade.ini and upgrade-key.ini at the product: roles per node, [packages] public_key,
# [product] name (the section goes for the default product). Comments and other keys stay.
# Globals: PRODUCT NODES ROLES PUBKEY
#######################################
point_config() {
  local f i lines=()
  for i in "${!NODES[@]}"; do lines+=("${NODES[$i]}=${ROLES[$i]}"); done
  for f in "${LAB_DIR}/upgrade.ini" "${LAB_DIR}/upgrade-key.ini"; do
    [[ -f "${f}" ]] || continue
    python3 - "${f}" "${PRODUCT}" "${DEFAULT_PRODUCT}" "${PUBKEY}" "${lines[@]}" <<'PY'
import os, re, sys
path, product, default, pubkey = sys.argv[1:5]
roles = dict(a.split("=", 1) for a in sys.argv[5:])
out, section = [], None
for line in open(path).read().splitlines():
    m = re.match(r"^\[([^]]+)\]\s*$", line)
    if m:
        section = m.group(1)
        if section == "product":
            continue
    elif section == "product":
        continue
    elif section and section.startswith("node:") and re.match(r"^roles\s*=", line):
        line = "roles = " + ", ".join(r for r in roles[section[5:]].split(",") if r != "-")
    elif section == "packages" and re.match(r"^public_key\s*=", line):
        line = "public_key = " + pubkey
    out.append(line)
while out and not out[-1].strip():
    out.pop()
if product != default:
    out += ["", "[product]", "name = " + product]
tmp = path + ".tmp"
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    f.write("\n".join(out) + "\n")
os.rename(tmp, path)
PY
  done
  log "${LAB_DIR}/upgrade.ini now points at ${PRODUCT} (${lines[*]})"
}

#######################################
# Write the cluster topology (fresh random secrets of the sizes the product asks for) to $1.
# Globals: NODES ADDRS ROLES SECRETS (arrays)
#######################################
write_topology() {
  local out="$1" i lines=()
  for i in "${!NODES[@]}"; do lines+=("node ${NODES[$i]} ${ADDRS[$i]} ${ROLES[$i]}"); done
  for i in "${SECRETS[@]}"; do lines+=("secret ${i}"); done
  python3 - "${LAB_NAME}" "${out}" "${lines[@]}" <<'PY'
import json, os, secrets, sys
nodes, secret = {}, {}
for line in sys.argv[3:]:
    kind, name, a, *rest = line.split()
    if kind == "node":
        nodes[name] = {"address": a, "roles": [] if rest[0] == "-" else rest[0].split(",")}
    else:
        secret[name] = secrets.token_hex(int(a))
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump({"cluster": sys.argv[1], "nodes": nodes, "secrets": secret}, f, indent=2, sort_keys=True)
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
    ssh_node "${n}" "${REMOTE_DIR}/${PRODUCT}-${VERSION}/install.sh" --topology "${REMOTE_DIR}/topology.json" \
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
    if [[ "${role}" == "*" || ",${ROLES[$i]}," == *",${role},"* ]]; then printf '%s\n' "${NODES[$i]}"; fi
  done
  return 0
}

upload() {
  local n="$1"
  # What a wipe by unit files misses: units of the product still running after their file went
  # (e.g. a rollback that deleted a newer release's unit without stopping it).
  ssh_node "${n}" "systemctl stop '${UNIT_GLOB}'; systemctl reset-failed '${UNIT_GLOB}'" >/dev/null 2>&1 || true
  stage "$@"
}

# The package of a version (default: the install's), checked and unpacked in REMOTE_DIR of a node.
stage() {
  local n="$1" pkg="${PRODUCT}-${2:-${VERSION}}.tar.gz"
  ssh_node "${n}" "rm -rf ${REMOTE_DIR} && mkdir -p -m 0700 ${REMOTE_DIR}"
  scp -q "${SSH_OPTS[@]}" "${PACKAGES}/${pkg}" "${PACKAGES}/${pkg}.sha256" "${TOPO}" "${n}:${REMOTE_DIR}/"
  ssh_node "${n}" "cd ${REMOTE_DIR} && mv $(basename "${TOPO}") topology.json && sha256sum --quiet -c ${pkg}.sha256 \
    && tar -xzf ${pkg} && test -x ${pkg%.tar.gz}/install.sh"
}

# Commands in the unpacked package of a version on a node, each line of output prefixed with the node.
in_package() {
  local n="$1" v="$2" what="$3" c
  shift 3
  for c in "$@"; do
    ssh_node "${n}" "cd ${REMOTE_DIR}/${PRODUCT}-${v} && ${c}" </dev/null > >(sed -u "s/^/  ${n}| /" >&2) 2>&1 \
      || die "${n}: '${c}' failed (${what})"
  done
  ssh_node "${n}" "rm -rf ${REMOTE_DIR}" </dev/null
}

#######################################
# Upgrade one node by hand to another version, alone (lab.json upgrade_node, run in the node's
# unpacked package): what an upgrade stopped half-way and finished by hand leaves. A node without
# the role of lab.json upgrade_schema (drp: the DB primary) needs its version's schema there, as
# the product's by-hand procedure says: that node runs upgrade_schema in the same package.
# Arguments: node version
#######################################
upgrade_by_hand() {
  local n="$1" v="$2" p
  ((${#BYHAND[@]})) || die "packaging/${PRODUCT}/lab.json has no upgrade_node: no mixed install of ${PRODUCT}"
  [[ -f "${PACKAGES}/${PRODUCT}-${v}.tar.gz" ]] || "${REPO}/packaging/${PRODUCT}/build.sh" "${PACKAGES}" "${v}"
  : >"${TOPO}"
  upload "${n}" "${v}"
  log "${n}: upgraded by hand to ${v}"
  in_package "${n}" "${v}" "upgrade by hand to ${v}" "${BYHAND[@]}"
  [[ -n "${SCHEMA_ROLE}" ]] || return 0
  while read -r p; do
    [[ -n "${p}" && "${p}" != "${n}" ]] || continue
    log "${p}: the ${SCHEMA_ROLE} takes ${v}'s schema for ${n}"
    stage "${p}" "${v}"
    in_package "${p}" "${v}" "${v}'s schema for ${n}" "${SCHEMA[@]}"
  done < <(nodes_with "${SCHEMA_ROLE}")
}

# The topology holds the cluster's secrets: it leaves the nodes and this host in any case.
cleanup() {
  local n
  rm -f "${TOPO}"
  for n in "${NODES[@]}"; do
    ssh_node "${n}" "rm -f ${REMOTE_DIR}/topology.json" </dev/null >/dev/null 2>&1 || true
  done
}

#######################################
# The health table: every node with a role of a health endpoint, what the endpoint says.
# Globals: HEALTH (lines "ROLE URL")
#######################################
summary() {
  local h role url n out rc=0
  printf '%-8s %-8s %-8s %-9s %s\n' NODE ROLE VERSION STATUS LINKS
  for h in "${HEALTH[@]}"; do
    read -r role url <<<"${h}"
    while read -r n; do
      [[ -n "${n}" ]] || continue
      out="$(ssh_node "${n}" "curl -sS --max-time 5 ${url}" </dev/null 2>/dev/null || true)"
      python3 - "${n}" "${role}" "${out}" <<'PY' || rc=1
import json, sys
n, role, raw = sys.argv[1:]
try:
    h = json.loads(raw)
except ValueError:
    print("%-8s %-8s %-8s %-9s" % (n, role, "-", "no answer")); sys.exit(1)
links = " ".join("%s=%s" % (k, "ok" if v == "ok" else "ERR") for k, v in sorted(h.items())
                 if k != "status" and isinstance(v, str) and (v == "ok" or v.startswith("error")))
print("%-8s %-8s %-8s %-9s %s" % (n, role, h.get("version"), h.get("status"), links))
sys.exit(0 if h.get("status") == "ok" else 1)
PY
    done < <(nodes_with "${role}")
  done
  return "${rc}"
}

main() {
  local build=1 uninstall=0 point_only=0 i start role steps targets mixed="" pair
  PRODUCT="${PRODUCT:-${DEFAULT_PRODUCT}}"
  while (($#)); do
    case "$1" in
      --no-build) build=0; shift ;;
      --uninstall) uninstall=1; shift ;;
      --point-only) point_only=1; shift ;;
      --product) PRODUCT="${2:?--product needs a name}"; shift 2 ;;
      --mixed) mixed="${2?--mixed needs NODE=VERSION[,NODE=VERSION]}"; shift 2 ;;
      -h|--help) usage; return 0 ;;
      -*) usage >&2; return 2 ;;
      *) break ;;
    esac
  done
  [[ "${PRODUCT}" =~ ^[a-z][a-z0-9_-]*$ && -f "${REPO}/packaging/${PRODUCT}/lab.json" ]] \
    || { log "no product '${PRODUCT}' (no packaging/${PRODUCT}/lab.json)"; return 2; }
  if ((point_only)); then
    (($# == 0)) || { usage >&2; return 2; }
    [[ -f "${LAB_DIR}/upgrade.ini" ]] || die "no lab at ${LAB_DIR} (run: tests/lab/lab.sh up)"
    load_plan "${PRODUCT}"
    point_config
    return 0
  fi
  if ((uninstall)); then
    (($# == 0)) || { usage >&2; return 2; }
    VERSION="$(grep -Ev '^\s*(#|$)' "${REPO}/packaging/${PRODUCT}/VERSIONS" | tail -n 1)"
  else
    (($# == 1)) || { usage >&2; return 2; }
    VERSION="${1#v}"
    [[ "${VERSION}" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { log "bad version '$1'"; return 2; }
  fi
  [[ -f "${LAB_DIR}/upgrade.ini" && -f "${LAB_DIR}/ssh_config" ]] \
    || die "no lab at ${LAB_DIR} (run: tests/lab/lab.sh up)"
  if [[ ! -f "${PACKAGES}/${PRODUCT}-${VERSION}.tar.gz" ]]; then
    ((build)) || die "missing ${PACKAGES}/${PRODUCT}-${VERSION}.tar.gz"
    "${REPO}/packaging/${PRODUCT}/build.sh" "${PACKAGES}" "${VERSION}"
  fi
  (cd "${PACKAGES}" && sha256sum --quiet -c "${PRODUCT}-${VERSION}.tar.gz.sha256") \
    || die "${PACKAGES}/${PRODUCT}-${VERSION}.tar.gz does not match its .sha256"
  REMOTE_DIR="/var/tmp/${PRODUCT}-install"
  SSH_OPTS=(-F "${LAB_DIR}/ssh_config" -o BatchMode=yes -o ConnectTimeout=10)
  load_plan "${PRODUCT}"
  ((${#NODES[@]})) || die "no [node:NAME] sections in ${LAB_DIR}/upgrade.ini"
  for role in "${REQUIRE[@]}"; do
    [[ -n "$(nodes_with "${role}")" ]] || die "the lab has no ${role} node for ${PRODUCT} (packaging/${PRODUCT}/lab.json)"
  done
  start=${SECONDS}
  TOPO="$(mktemp "${TMPDIR:-/tmp}/${PRODUCT}-topology.XXXXXX")"
  trap cleanup EXIT
  write_topology "${TOPO}"
  local pids=()
  for i in "${!NODES[@]}"; do upload "${NODES[$i]}" & pids+=($!); done
  for i in "${!pids[@]}"; do wait "${pids[$i]}" || die "upload to ${NODES[$i]} failed"; done
  if ((uninstall)); then
    run_step wipe "${NODES[@]}" || die "removing ${PRODUCT} failed"
    log "${PRODUCT} removed from ${NODES[*]}"
    PRODUCT="${DEFAULT_PRODUCT}"
    load_plan "${PRODUCT}"
    point_config
    return 0
  fi
  point_config
  log "installing ${PRODUCT} ${VERSION} on ${NODES[*]} (lab ${LAB_DIR})"
  for i in "${!STEPS[@]}"; do
    steps="${STEPS[$i]%|*}"
    role="${STEPS[$i]##*|}"
    mapfile -t targets < <(nodes_with "${role}")
    run_step "${steps}" "${targets[@]}" || die "${steps} failed (${role} nodes)"
  done
  log "${PRODUCT} ${VERSION} installed in $((SECONDS - start)) s"
  for pair in ${mixed//,/ }; do
    [[ "${pair}" =~ ^([a-z0-9]+)=v?([0-9]+\.[0-9]+\.[0-9]+)$ && " ${NODES[*]} " == *" ${BASH_REMATCH[1]} "* ]] \
      || die "--mixed ${pair}: expected NODE=VERSION with a node of the lab (${NODES[*]})"
    upgrade_by_hand "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
  done
  summary || die "not every node is healthy"
}

main "$@"
