#!/usr/bin/env bash
# Summary: print what a rollback must give back exactly on this node (tests/integration/test_rollback.py)
# Every release dir and the link, the content (and modes, owners) of the config, the units, their
# enablement and which of them run, the local data (the app's own heartbeat file aside), the databases' tables, columns,
# indexes, users and migrations, and the product's etcd keys.
set -u
tree() {
  (cd "$1" && find . -printf '%y %m %u:%g %P -> %l\n' | LC_ALL=C sort &&
    find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum) | sha256sum | cut -c1-16
}

q() { mariadb -N -B -e "$1"; }

echo "link $(readlink /opt/drp)"
for r in /opt/drp-releases/*; do echo "release ${r##*/} $(tree "$r")"; done
echo "releases $(find /opt/drp-releases -mindepth 1 -maxdepth 1 -printf '%P ' | LC_ALL=C sort)"
echo "etc $(tree /etc/drp)"
for u in /etc/systemd/system/drp* /etc/systemd/system/*.wants/drp*; do
  [[ -e $u || -L $u ]] || continue
  [[ -d $u ]] && continue
  echo "unit $u $(readlink "$u" || sha256sum < "$u" | cut -c1-16)"
done
echo "enabled $(systemctl is-enabled drp.target 2>/dev/null)"
# every drp unit systemd still runs, its file there or not: a rollback must stop the units only newer
# releases have (2.3.0's drp-events), not just delete their files
echo "running $(systemctl list-units --all --state=active --plain --no-legend 'drp*' | awk '{print $1}' | LC_ALL=C sort | tr '\n' ' ')"
echo "data $(cd /var/lib/drp/data && find . -path ./app -prune -o -printf '%y %m %P\n' | LC_ALL=C sort |
  sha256sum | cut -c1-16) $(sha256sum /var/lib/drp/data/MANIFEST.sha256 | cut -c1-16)"
if [[ -S /run/mysqld/mysqld.sock ]]; then
  echo "dbs $(q "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'drp%' ORDER BY 1" |
    tr '\n' ' ')"
  echo "cols $(q "SELECT table_schema, table_name, column_name, column_type FROM information_schema.columns
    WHERE table_schema LIKE 'drp%' ORDER BY 1, 2, ordinal_position" | sha256sum | cut -c1-16)"
  echo "idx $(q "SELECT table_schema, table_name, index_name, column_name FROM information_schema.statistics
    WHERE table_schema LIKE 'drp%' ORDER BY 1, 2, 3, seq_in_index" | sha256sum | cut -c1-16)"
  echo "users $(q "SELECT user, host FROM mysql.user ORDER BY 1, 2" | tr '\n\t' ' :')"
  echo "migrations $(q "SELECT seq, version, kind, name, checksum FROM drp.schema_version ORDER BY seq" |
    sha256sum | cut -c1-16)"
fi
if systemctl is-active -q drp-etcd; then
  echo "etcd-config $(ETCDCTL_API=3 etcdctl get --prefix /drp/config/ | sha256sum | cut -c1-16)"
  echo "etcd-keys $(ETCDCTL_API=3 etcdctl get --prefix /drp/ --keys-only | grep . | LC_ALL=C sort | tr '\n' ' ')"
fi
