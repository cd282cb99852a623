#!/usr/bin/env bash
# Summary: print what a rollback must give back exactly on this node (tests/integration/test_rollback.py, bench/soak.py)
# Every release dir and the link, the content (and modes, owners) of the config, the units, their
# enablement and which of them run, the local data (the app's own heartbeat file aside), the databases' tables, columns,
# indexes, users and migrations, and the product's etcd keys.
# The product's places come from its products/<name>/product.json parameters (nodestate.exact_state_env);
# without them, drp's: PRODUCT (the unit and database prefix), PRODUCT_LINK, PRODUCT_RELEASES,
# PRODUCT_ETC, PRODUCT_TARGET, PRODUCT_DATA, PRODUCT_DATA_SKIP (paths under the data left out: what
# the services rewrite while they run), PRODUCT_DATA_MANIFEST.
set -u
P=${PRODUCT:-drp}
LINK=${PRODUCT_LINK:-/opt/drp}
RELEASES=${PRODUCT_RELEASES:-/opt/drp-releases}
ETC=${PRODUCT_ETC:-/etc/drp}
TARGET=${PRODUCT_TARGET:-drp.target}
DATA=${PRODUCT_DATA:-/var/lib/drp/data}
read -ra SKIP <<< "${PRODUCT_DATA_SKIP:-app}"
DATA_MANIFEST=${PRODUCT_DATA_MANIFEST:-$DATA/MANIFEST.sha256}
tree() {
  (cd "$1" && find . -printf '%y %m %u:%g %P -> %l\n' | LC_ALL=C sort &&
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum) | sha256sum | cut -c1-16
}

q() { mariadb -N -B -e "$1"; }

echo "link $(readlink "$LINK")"
for r in "$RELEASES"/*; do echo "release ${r##*/} $(tree "$r")"; done
echo "releases $(find "$RELEASES" -mindepth 1 -maxdepth 1 -printf '%P ' | LC_ALL=C sort)"
echo "etc $(tree "$ETC")"
for u in /etc/systemd/system/"$P"* /etc/systemd/system/*.wants/"$P"*; do
  [[ -e $u || -L $u ]] || continue
  [[ -d $u ]] && continue
  echo "unit $u $(readlink "$u" || sha256sum < "$u" | cut -c1-16)"
done
echo "enabled $(systemctl is-enabled "$TARGET" 2>/dev/null)"
# every unit of the product systemd still runs, its file there or not: a rollback must stop the units only
# newer releases have (drp 2.3.0's drp-events), not just delete their files
echo "running $(systemctl list-units --all --state=active --plain --no-legend "$P*" | awk '{print $1}' | LC_ALL=C sort | tr '\n' ' ')"
prune=()
for s in "${SKIP[@]}"; do prune+=(-path "./$s" -prune -o); done
echo "data $(cd "$DATA" && find . "${prune[@]}" -printf '%y %m %P\n' | LC_ALL=C sort |
  sha256sum | cut -c1-16) $(sha256sum "$DATA_MANIFEST" | cut -c1-16)"
if [[ -S /run/mysqld/mysqld.sock ]] && systemctl is-active -q "$P-db"; then  # the product's own database
  echo "dbs $(q "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE '$P%' ORDER BY 1" |
    tr '\n' ' ')"
  echo "cols $(q "SELECT table_schema, table_name, column_name, column_type FROM information_schema.columns
    WHERE table_schema LIKE '$P%' ORDER BY 1, 2, ordinal_position" | sha256sum | cut -c1-16)"
  echo "idx $(q "SELECT table_schema, table_name, index_name, column_name FROM information_schema.statistics
    WHERE table_schema LIKE '$P%' ORDER BY 1, 2, 3, seq_in_index" | sha256sum | cut -c1-16)"
  echo "users $(q "SELECT user, host FROM mysql.user ORDER BY 1, 2" | tr '\n\t' ' :')"
  echo "migrations $(q "SELECT seq, version, kind, name, checksum FROM $P.schema_version ORDER BY seq" |
    sha256sum | cut -c1-16)"
fi
if systemctl is-active -q "$P-etcd"; then
  echo "etcd-config $(ETCDCTL_API=3 etcdctl get --prefix "/$P/config/" | sha256sum | cut -c1-16)"
  echo "etcd-keys $(ETCDCTL_API=3 etcdctl get --prefix "/$P/" --keys-only | grep . | LC_ALL=C sort | tr '\n' ' ')"
fi
