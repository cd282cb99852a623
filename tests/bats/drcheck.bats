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
  [ -f "$NODE/products/drp/checks/60-services.sh" ]
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
  [[ $output != *services* && $output == *network_manager* ]]
}

@test "a product's check runs by hand: it finds the check library from products/<name>/checks/" {
  printf 'DR_PRODUCT=drp\nDR_ROLES=kmc\n' > "$DRSTEP_CONTEXT"
  run "$NODE/bin/drcheck" run services
  [[ $output == *$'@@R\tservices\t'* ]]
  [[ $output != *"did not complete"* ]]
}
