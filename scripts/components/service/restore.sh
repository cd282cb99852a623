# shellcheck shell=bash
# Component service/restore (common services: backup and restore): the way back to a backup made
# by service/backup (design §4.4.2): the program (switch back to the kept release, or extract it
# from the backup), the config directory with the product's units and the local data, the start
# of the restored version (etcd keys put back before the applications), and the verification of
# the result against the manifest. What it restores and where comes from the backup's manifest and
# these parameters (the rollback's bindings are those of the backup's hop: rollback_tool).
# Parameters:
#   action        program | config | start | verify
#   link          program, verify: the program's link (e.g. /opt/<product>)
#   releases      program, verify: the directory of the release directories (RELEASES/<version>)
#   version_file  verify: the file in a release that names its version (default VERSION)
#   config_dir    config, verify: the config directory (its tree hash is the manifest's)
#   unit_dir      config: where the unit files are (default /etc/systemd/system)
#   unit_match    config: the product's unit names, globs (words): every unit file and enablement
#                 link matching (unit_dir/GLOB, unit_dir/*/GLOB) is removed, the backup's put back
#   data_dir      config: the local data directory (its tree hash is the manifest's)
#   stop_first    start: units stopped and reset first (words; e.g. service/mariadb's recover_unit)
#   units         start: units started together without waiting, those installed (words)
#   ready_command start: a command (words) the nodes with one of ready_roles (words) run then
#   etcd_roles    start: these nodes wait for a healthy etcd cluster and put the backup's keys back
#                 (those of its etcd_keys.json, under the manifest's prefix) when the backup has them
#   etcd_wait_key start: the nodes with one of etcd_wait_roles wait (up to 120 s) until this key
#                 has the backup's value (the config the applications read)
#   then_units    start: then started in order, each waited for, those installed (words)
#   health_url    start, with health_expect (KEY=VALUE words) on the nodes with one of health_roles:
#                 the endpoint must answer so within health_seconds (default 180)
#   await_<name>  start: more checks the restored version must pass within health_seconds, as
#                 service/monitor's ("ROLES: KIND ARGS", e.g. a health URL per role)
#   check_<name>  verify: checks as service/monitor's ("ROLES: KIND ARGS"), with also the kinds
#                   db_checksums COMMAND...   the command prints the tables' checksums of the backup
#                   etcd_keys PREFIX          the keys under PREFIX are the backup's
#                   wait SECONDS KIND ARGS... the check holds within SECONDS
# Crash points: "after extracting the program directory" (program), "after the configuration"
# (config).
# shellcheck source=scripts/components/service/monitor.sh
source "$COMPONENTS_DIR/service/monitor.sh"
# shellcheck source=scripts/lib/rollback.sh
source "$COMPONENTS_DIR/../lib/rollback.sh"

restore::on_roles() {
  local roles=() r
  component::words "$1" roles ""
  ((${#roles[@]})) || return 0
  for r in "${roles[@]}"; do [[ ",${DR_ROLES:-}," != *",$r,"* ]] || return 0; done
  return 1
}
restore::releases() { component::param releases; }

# What the link holds for a release: relative when it sits beside the releases directory.
restore::link_target() {
  local link releases
  link=$(component::param link)
  releases=$(restore::releases)
  if [[ $(dirname "$link") == "$(dirname "$releases")" ]]; then
    printf '%s/%s' "${releases##*/}" "$1"
  else
    printf '%s/%s' "$releases" "$1"
  fi
}

# -- program -----------------------------------------------------------------------------------
#######################################
# The kept release is the backup's: its metadata hash equals the manifest's (paths, modes, sizes,
# mtimes: no file is read, so the check does not grow with the program's size; older manifests
# without it: the content hash), and the verify step never found its content changed.
#######################################
restore::intact() {
  local meta dir
  dir=$(restore::releases)/$1
  [[ -d $dir && ! -e $(rb::suspect_mark) ]] || return 1
  meta=$(rb::field program_directory meta_sha256)
  if [[ -n $meta ]]; then
    [[ $(files::tree_meta_hash "$dir") == "$meta" ]]
  else
    [[ $(files::tree_hash "$dir") == "$(rb::field program_directory tree_sha256)" ]]
  fi
}
restore::switch() {
  local link tmp
  link=$(component::param link)
  tmp=$link.rollback.$$
  ln -sfn "$(restore::link_target "$1")" "$tmp"
  mv -T "$tmp" "$link"
  sync -f "$(dirname "$link")" 2>/dev/null || true
}
restore::program_done() {
  local v releases
  v=$(rb::version)
  releases=$(restore::releases)
  [[ $(readlink "$(component::param link)") == "$(restore::link_target "$v")" ]] && restore::intact "$v" &&
    [[ -z $(rb::newer_releases "$releases" "$v") ]] &&
    [[ -z $(find "$releases" -mindepth 1 -maxdepth 1 -name '.*') ]]
}
restore::program() {
  local v stage r releases
  v=$(rb::version)
  releases=$(restore::releases)
  if restore::intact "$v"; then
    log "保留的旧版本目录 $releases/$v 完整，直接切换" "the kept release $releases/$v is intact: switching to it"
  else
    log "旧版本目录缺失或已改变，从备份解压" "the kept release is missing or changed: extracting it from the backup"
    stage=$releases/.$v.rollback
    rm -rf "$stage"
    mkdir -p "$stage"
    tar -C "$stage" -xzf "$(rb::dir)/program_directory.tar.gz"
    step::point "after extracting the program directory"
    [[ $(files::tree_hash "$stage/${releases#/}/$v") == "$(rb::field program_directory tree_sha256)" ]] ||
      die "解压出的程序目录与备份清单不符" "the extracted program directory differs from the manifest"
    rm -rf "${releases:?}/$v"
    mv -T "$stage/${releases#/}/$v" "$releases/$v"
    rm -rf "$stage" "$(rb::suspect_mark)"
  fi
  restore::switch "$v"
  while IFS= read -r r; do
    [[ -n $r ]] || continue
    log "删除升级安装的版本 $r" "removing release $r that the upgrade installed"
    rm -rf "${releases:?}/$r"
  done < <(rb::newer_releases "$releases" "$v")
  # What an interrupted install or extraction leaves behind (stages beside the releases).
  find "$releases" -mindepth 1 -maxdepth 1 -name '.*' -exec rm -rf {} +
  restore::program_done || die "程序目录恢复后校验失败" "the restored program directory does not verify"
  log "程序目录已恢复为 $v" "the program directory is $v again"
}

# -- config, units and local data --------------------------------------------------------------
# The product's unit files and links now (relative to /), sorted.
restore::units_now() {
  local dir globs=() g names=()
  dir=$(component::param unit_dir /etc/systemd/system)
  component::words unit_match globs
  for g in "${globs[@]}"; do names+=(-o -name "$g"); done
  find "$dir" -maxdepth 2 ! -type d \( "${names[@]:1}" \) -printf "${dir#/}/%P\n" | LC_ALL=C sort
}
restore::units_backup() {
  local dir
  dir=$(component::param unit_dir /etc/systemd/system)
  tar -tzf "$(rb::dir)/system_config.tar.gz" | grep "^${dir#/}/" | grep -v '/$' | LC_ALL=C sort
}
restore::config_done() {
  local config data
  config=$(component::param config_dir)
  data=$(component::param data_dir)
  [[ -d $config && $(files::tree_hash "$config") == "$(rb::field system_config tree_sha256)" ]] &&
    [[ $(restore::units_now) == "$(restore::units_backup)" ]] &&
    [[ -d $data && $(files::tree_hash "$data") == "$(rb::field local_data tree_sha256)" ]]
}
restore::config() {
  local f g dir config data globs=()
  dir=$(component::param unit_dir /etc/systemd/system)
  config=$(component::param config_dir)
  data=$(component::param data_dir)
  component::words unit_match globs
  log "恢复系统配置" "restoring the system configuration"
  while IFS= read -r f; do [[ -n $f ]] && rm -f "/$f"; done < <(restore::units_now)
  for g in "${globs[@]}"; do find "$dir" -maxdepth 1 -type d -name "$g.wants" -empty -delete; done
  rm -rf "${config:?}"
  tar -C / --numeric-owner -xzpf "$(rb::dir)/system_config.tar.gz"
  systemctl daemon-reload
  step::point "after the configuration"
  log "恢复本地业务数据 $data" "restoring the local data $data"
  rm -rf "${data:?}"
  tar -C / --numeric-owner -xzpf "$(rb::dir)/local_data.tar.gz"
  [[ $(files::tree_hash "$config") == "$(rb::field system_config tree_sha256)" ]] ||
    die "恢复后的 $config 与备份清单不符" "the restored $config differs from the manifest"
  [[ $(files::tree_hash "$data") == "$(rb::field local_data tree_sha256)" ]] ||
    die "恢复后的 $data 与备份清单不符" "the restored $data differs from the manifest"
  log "系统配置与本地数据已恢复" "the configuration and the local data are restored"
}

# -- start -------------------------------------------------------------------------------------
# The units of parameter $1 whose unit file is installed (words).
restore::installed() {
  local all=() u dir
  component::words "$1" all ""
  dir=$(component::param unit_dir /etc/systemd/system)
  for u in "${all[@]}"; do [[ ! -e $dir/$u ]] || printf '%s\n' "$u"; done
  return 0
}
restore::health_ok() {
  local fields=()
  [[ -n $(component::param health_url "") ]] && restore::on_roles health_roles || return 0
  component::words health_expect fields ""
  http::ok "$(component::param health_url)" "${fields[@]}"
}
restore::etcd_healthy() { ETCDCTL_API=3 etcdctl --command-timeout=3s endpoint health; }
restore::etcd_key_is_backup() {
  local key=$1 want got
  [[ -f $(rb::dir)/etcd_keys.json ]] || return 0
  want=$(rb::etcd_backup_keys | awk -F'\t' -v k="$key" '$1 == k {print $2}')
  [[ -n $want ]] || return 0
  got=$(rb::etcdctl get "$key" --print-value-only 2>/dev/null | head -c -1 | base64 -w0)
  [[ $got == "$want" ]]
}
# The await_<name> checks of this node's roles that do not hold (monitor::failing's format).
restore::awaiting() { MONITOR_PREFIX=DR_P_AWAIT_ monitor::failing; }
restore::ready() { [[ -z $(restore::awaiting) ]]; }
restore::start_done() {
  local u
  for u in $(restore::installed units); do systemctl is-active --quiet "$u" || return 1; done
  restore::health_ok && restore::ready
}
restore::start() {
  local list=() stop=() u key
  component::words stop_first stop ""
  if ((${#stop[@]})); then
    systemctl stop "${stop[@]}" 2>/dev/null || true
    systemctl reset-failed "${stop[@]}" 2>/dev/null || true
  fi
  systemctl daemon-reload
  mapfile -t list < <(restore::installed units)
  # Members of a cluster start together (one alone has no quorum): do not block on them.
  ((${#list[@]} == 0)) || systemctl start --no-block "${list[@]}"
  if [[ -n $(component::param ready_command "") ]] && restore::on_roles ready_roles; then
    component::command ready_command
  fi
  if [[ -n $(component::param etcd_roles "") ]] && restore::on_roles etcd_roles; then
    wait::until 240 "Etcd 集群恢复" "the etcd cluster" restore::etcd_healthy || die "Etcd 集群不健康" "the etcd cluster is not healthy"
    if [[ -f $(rb::dir)/etcd_keys.json ]]; then
      log "恢复 Etcd 中的产品键值" "putting the product's etcd keys back"
      rb::etcd_restore "$(rb::field etcd_keys prefix)"
    fi
  fi
  key=$(component::param etcd_wait_key "")
  if [[ -n $key ]] && restore::on_roles etcd_wait_roles; then
    # The keys of the other etcd members' backups are the same cluster-wide: wait for the config.
    wait::until 120 "Etcd 中的键 $key" "the key $key in etcd" restore::etcd_key_is_backup "$key" || true
  fi
  while IFS= read -r u; do
    [[ -n $u ]] && systemctl start "$u"
  done < <(restore::installed then_units)
  if [[ -n $(component::param health_url "") ]] && restore::on_roles health_roles; then
    local fields=()
    component::words health_expect fields ""
    http::wait "$(component::param health_seconds 180)" "$(component::param health_url)" "${fields[@]}" ||
      die "$(component::param health_url) 未正常应答（${fields[*]}）" \
        "$(component::param health_url) does not answer healthy (${fields[*]})"
  fi
  if ! restore::ready; then
    wait::until "$(component::param health_seconds 180)" "服务就绪" "the services to be ready" restore::ready || die "服务未就绪: $(restore::awaiting | tr '\n' ';')" \
      "the services are not ready: $(restore::awaiting | tr '\n' ';')"
  fi
  log "服务已启动（版本 $(rb::version)）" "the services run (version $(rb::version))"
}

# -- verify ------------------------------------------------------------------------------------
monitor::kind_db_checksums() { rb::db_checksums_equal "$@"; }
monitor::kind_etcd_keys() {
  local want have
  [[ -f $(rb::dir)/etcd_keys.json ]] || return 0
  want=$(rb::etcd_backup_keys | awk -F'\t' -v p="$1" 'index($1, p) == 1' | LC_ALL=C sort)
  have=$(rb::etcd_live_keys "$1" | LC_ALL=C sort)
  [[ $want == "$have" ]]
}

restore::verify() {
  local v bad=() link releases config version failing
  v=$(rb::version)
  link=$(component::param link)
  releases=$(restore::releases)
  config=$(component::param config_dir)
  version=$(cat "$link/$(component::param version_file VERSION)" 2>/dev/null || echo none)
  [[ $version == "$v" ]] || bad+=("$(msg "版本" "version"): $version != $v")
  [[ $(readlink "$link") == "$(restore::link_target "$v")" ]] || bad+=("$link -> $(readlink "$link")")
  if [[ $(files::tree_hash "$(readlink -f "$link")") != "$(rb::field program_directory tree_sha256)" ]]; then
    rb::mark_suspect
    bad+=("$(msg "程序目录内容与清单不符（重新执行 auto_continue_from 1 将从备份解压）" \
      "program directory content differs from the manifest (auto_continue_from 1 extracts it from the backup)")")
  fi
  [[ -z $(rb::newer_releases "$releases" "$v") ]] ||
    bad+=("$(msg "残留的新版本" "releases left behind"): $(rb::newer_releases "$releases" "$v" | tr '\n' ' ')")
  [[ $(files::tree_hash "$config") == "$(rb::field system_config tree_sha256)" ]] ||
    bad+=("$(msg "配置目录哈希与清单不符" "config hash differs from the manifest") ($config)")
  failing=$(monitor::failing)
  [[ -z $failing ]] || mapfile -t -O "${#bad[@]}" bad <<< "$failing"
  if ((${#bad[@]})); then
    die "回滚结果与备份不一致: $(IFS=';'; echo "${bad[*]}")" "the rollback result differs from the backup: $(IFS=';'; echo "${bad[*]}")"
  fi
  rb::unstage
  log "验证通过：版本 $v，与备份一致" "verified: version $v, equal to the backup"
}

# -- the interface -----------------------------------------------------------------------------
pre_check() {
  case $(component::param action) in
    program | config | start | verify) ;;
    *) common::die 2 "action 参数应为 program、config、start 或 verify" "the parameter action must be program, config, start or verify" ;;
  esac
}
execute() { "restore::$(component::param action)"; }
post_check() {
  case $(component::param action) in
    program) restore::program_done ;;
    config) restore::config_done ;;
    start) restore::start_done ;;
    verify) component::executed ;;  # a check: never "already done"
  esac
}
rollback() { :; }
get_progress() {
  case $(component::param action) in
    start) local u; for u in $(restore::installed units) $(restore::installed then_units); do
      printf '%s %s\n' "$u" "$(systemctl is-active "$u" 2>&1 || true)"; done ;;
    verify) monitor::failing ;;
  esac
}
