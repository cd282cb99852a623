#!/usr/bin/env bats
# drcheck in the node tool as packaging/dist.sh builds it: the tool's checks and the checks of the
# node's product (DR_PRODUCT, from context.env) in one NN- order, runnable by hand.

setup() {
  TOP=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
  "$TOP/packaging/dist.sh" node 0.0.0-test "$BATS_TEST_TMPDIR/build" > /dev/null
  NODE=$BATS_TEST_TMPDIR/build/stage/drupgrade-node-0.0.0-test
  export DRUPGRADE_LANG=en
  export DRSTEP_CONTEXT=$NODE/context.env
}

names() { "$NODE/bin/drcheck" list | awk '{print $1}' | tr '\n' ' '; }

@test "the node tool carries every product's checks beside its own" {
  [ -f "$NODE/checks/10-network_manager.sh" ]
  [ -f "$NODE/products/drp/checks/70-db_replication.sh" ]
  [ -f "$NODE/products/arc/checks/70-layout.sh" ]
}

@test "drcheck list: the product's checks of DR_PRODUCT join the tool's in NN- order" {
  printf 'DR_PRODUCT=drp\nDR_ROLES=app\n' > "$DRSTEP_CONTEXT"
  run names
  [[ $output == "network_manager "*" disk_backup disk_package "*" services db_replication etcd_health " ]]
  printf 'DR_PRODUCT=arc\nDR_ROLES=worker\n' > "$DRSTEP_CONTEXT"
  run names
  [[ $output == *" disk_backup disk_package "*" services layout " ]]
  [[ $output != *etcd_health* ]]
  rm -f "$DRSTEP_CONTEXT"
  run names
  [[ $output != *db_replication* && $output == *network_manager* ]]
}

@test "a product's check runs by hand: it finds the check library from products/<name>/checks/" {
  printf 'DR_PRODUCT=drp\nDR_ROLES=db_replica\n' > "$DRSTEP_CONTEXT"
  run "$NODE/bin/drcheck" run db_replication
  [[ $output == *$'@@R\tdb_replication\t'* ]]
  [[ $output != *"did not complete"* ]]
}

@test "services: the units of the node's roles (DR_UNITS, from product.json) must be active" {
  printf 'DR_PRODUCT=arc\nDR_ROLES=worker\nDR_UNITS=drupgrade-no-such-unit.service\n' > "$DRSTEP_CONTEXT"
  run "$NODE/bin/drcheck" show services
  [[ $output == *"services not running: drupgrade-no-such-unit.service"* ]]
  [[ $output == *"systemctl start drupgrade-no-such-unit.service"* ]]
  printf 'DR_PRODUCT=arc\nDR_ROLES=worker\n' > "$DRSTEP_CONTEXT"
  run "$NODE/bin/drcheck" show services
  [[ $output == *"services running: none"* ]]
}

@test "disk_backup: the estimate is what the backup steps bound on this node archive, per hop" {
  local t=$BATS_TEST_TMPDIR
  mkdir -p "$t/rel/1.0" "$t/etc" "$t/data" "$t/backup"
  head -c 3145728 /dev/zero > "$t/rel/1.0/blob"
  head -c 2097152 /dev/zero > "$t/data/blob"
  ln -s rel/1.0 "$t/link"
  printf '%s\n' DR_PRODUCT=arc DR_ROLES=worker DR_HOPS=2 "DR_BACKUP_ROOT=$t/backup" \
    DR_B_BACKUP_LOCAL_COMPONENT=service/backup "DR_B_BACKUP_LOCAL_P_LINK=$t/link" \
    "DR_B_BACKUP_LOCAL_P_CONFIG_DIR=$t/etc" "DR_B_BACKUP_LOCAL_P_DATA_DIR=$t/data" > "$DRSTEP_CONTEXT"
  run "$NODE/bin/drcheck" show disk_backup
  echo "$output"
  [[ $output == *"backed up: $t/link/ $t/etc $t/data"* ]]
  [[ $output == *"need 74 MB (2 hop(s) × 5 MB + 64 MB)"* ]]  # the release behind the link counted
  [[ $output == *"enough disk for the backup"* ]]
  [[ $output != *databases* ]]
}
