# shellcheck shell=bash
# Component service/release (common services: service management, program side): the new
# version's program beside the old one, switched by the product's release tool (release
# directories switched by rename), and the full environment cleanup of design §4.2.5 that undoes
# it before the upgrade phase restarts at unpacking.
# Parameters:
#   action          unpack | install
#   dir             where the package is unpacked (${unpack_dir}); its name is the package's top directory
#   version         the version being installed (${target_version}): the unpacked VERSION must say it
#   old_release     unpack's cleanup, install: the old version's release directory
#   activate_old    unpack's cleanup: the command that switches the program back to the old release
#   new_release     unpack's cleanup: the new version's release directory (removed)
#   units           unpack's cleanup: the units removed (words); unit_dir (default /etc/systemd/system)
#   unit_match      unpack's cleanup: the product's unit names, globs (words): every unit matching is
#                   stopped and removed too (base/units), those of a version the units never named
#   config_dir      unpack's cleanup: the config directory restored from the hop's backup
#                   (system_config.tar.gz of the backup dir)
#   data_dir, data_kept  the database directory and where install keeps the old one (cleanup puts it back;
#                   none: the product keeps no database directory per release)
#   install         install: the commands (words) run in this order: install the new release,
#   activate        switch to it, install the units (the node's roles, a comma list, appended)
#   units_install
#   data_roles      install: the roles whose nodes get a fresh data_dir (data_init initialises it)
#   data_init
#   active_file     install, done when: this file says version, verify (a command) succeeds and
#   verify          installed_unit exists
#   installed_unit
#   link            a product without a release tool: the program link (a symlink to a release
#                   directory). Then install, activate, activate_old and verify may be left out:
#                   install copies the unpacked package to new_release (staged beside it, checked
#                   against its MANIFEST.sha256, renamed into place), activate switches link to
#                   new_release (activate_old: to old_release) by renaming a new link over it,
#                   verify checks the active release against its MANIFEST.sha256.
# shellcheck source=scripts/lib/package.sh
source "$COMPONENTS_DIR/../lib/package.sh"
# shellcheck source=scripts/components/base/units.sh
source "$COMPONENTS_DIR/base/units.sh"
# shellcheck source=scripts/components/base/files.sh
source "$COMPONENTS_DIR/base/files.sh"

#######################################
# The built-in release tool (parameter link): a tree against its MANIFEST.sha256; the unpacked
# package copied to new_release; link switched to a release by renaming a new link over it (a
# link relative to link's directory when the release is below it, as an installer writes it).
#######################################
release::verify_dir() { [[ -f $1/MANIFEST.sha256 ]] && (cd "$1" && sha256sum --quiet --strict -c MANIFEST.sha256); }
release::copy() {
  local src new stage
  src=$(component::param dir)
  new=$(component::param new_release)
  stage=$(dirname "$new")/.$(basename "$new").staging
  if [[ -d $new ]] && cmp -s "$new/MANIFEST.sha256" "$src/MANIFEST.sha256" && release::verify_dir "$new"; then
    log "新版本程序目录 $new 已安装且完整" "the release $new is already installed and intact"
    return 0
  fi
  mkdir -p "$(dirname "$new")"
  rm -rf "${stage:?}"
  cp -a "$src/." "$stage/"
  rm -f "$stage/.unpacked"
  chown -R root:root "$stage"
  release::verify_dir "$stage" || die "$stage 与其 MANIFEST.sha256 不符" "$stage does not match its MANIFEST.sha256"
  rm -rf "${new:?}"
  mv -T "$stage" "$new"
  files::fsync "$(dirname "$new")"
}
release::switch() {
  local link release tmp
  link=$(component::param link)
  release=$1
  [[ -d $release ]] || die "程序目录 $release 不存在" "the release $release does not exist"
  [[ ! -e $link || -L $link ]] || die "$link 是目录而不是程序链接，不替换" "$link is a directory, not a release link: not replacing it"
  [[ $release != "$(dirname "$link")"/* ]] || release=${release#"$(dirname "$link")"/}
  tmp=$(dirname "$link")/.$(basename "$link").link.$$
  ln -sfn "$release" "$tmp"
  mv -T "$tmp" "$link"
  files::fsync "$(dirname "$link")"
  log "$link -> $release" "$link -> $release"
}
# Run a command parameter, or the built-in for it when it is not given (ACTION: the built-in's arguments).
release::run() {
  local name=$1
  shift
  if [[ -n $(component::param "$name" "") ]]; then component::command "$name"; else "$@"; fi
}

release::has_role() {
  local roles=() r
  component::words "$1" roles ""
  for r in "${roles[@]}"; do [[ ",${DR_ROLES:-}," != *",$r,"* ]] || return 0; done
  return 1
}

pre_check() {
  case $(component::param action) in
    unpack) ;;
    install)
      [[ -d $(component::param old_release) ]] ||
        die "旧版本程序目录 $(component::param old_release) 不存在" "the old release $(component::param old_release) is missing"
      ;;
    *) common::die 2 "action 参数应为 unpack 或 install" "the parameter action must be unpack or install" ;;
  esac
}

release::unpacked() {
  local dir
  dir=$(component::param dir)
  [[ -f $dir/MANIFEST.sha256 && -f $dir/.unpacked ]] && (cd "$dir" && sha256sum --quiet --strict -c MANIFEST.sha256)
}

release::installed() {
  [[ $(cat "$(component::param active_file)" 2> /dev/null) == "$(component::param version)" ]] &&
    release::run verify release::verify_dir "$(component::param link "")/" > /dev/null &&
    [[ -e $(component::param installed_unit) ]]
}

post_check() {
  case $(component::param action) in
    unpack) release::unpacked ;;
    install) release::installed ;;
  esac
}

#######################################
# The full environment cleanup of design §4.2.5, before the upgrade phase restarts at unpacking:
# stop and remove the new services, switch the program back, drop the new release, bring back the
# old config and database directory, remove the unpacked package. Safe to run more than once.
#######################################
release::cleanup() {
  local units=() globs=() present=() u unit_dir backup old new data kept dir
  unit_dir=$(component::param unit_dir /etc/systemd/system)
  component::words units units
  component::words unit_match globs ""
  mapfile -t -O "${#units[@]}" units < <(units::matching "$unit_dir" ${globs[@]+"${globs[@]}"})
  log "停止新服务" "stopping the new services"
  for u in "${units[@]}"; do
    if [[ -e $unit_dir/$u ]] || units::running "$u"; then [[ " ${present[*]} " == *" $u "* ]] || present+=("$u"); fi
  done
  if ((${#present[@]})); then
    systemctl stop "${present[@]}" || true
    systemctl disable "${present[@]}" > /dev/null 2>&1 || true
    for u in "${present[@]}"; do rm -f "${unit_dir:?}/$u"; done
    systemctl daemon-reload
    systemctl reset-failed "${present[@]}" > /dev/null 2>&1 || true
  fi
  old=$(component::param old_release)
  new=$(component::param new_release)
  if [[ -d $old ]]; then
    log "恢复旧程序目录 $old" "switching the program back to $old"
    release::run activate_old release::switch "$old"
  fi
  if [[ $new != "$old" && -d $new ]]; then rm -rf "${new:?}"; fi
  backup=$(files::backup_dir)/system_config.tar.gz
  if [[ -f $backup ]]; then
    log "从备份恢复旧配置" "restoring the old configuration from the backup"
    rm -rf "$(component::param config_dir)"
    tar -C / -xzf "$backup"
    systemctl daemon-reload
  fi
  data=$(component::param data_dir "")
  kept=$(component::param data_kept "")
  if [[ -n $kept && -d $kept ]]; then
    log "恢复旧数据库目录" "putting the old database directory back"
    rm -rf "${data:?}"
    mv "$kept" "$data"
  fi
  dir=$(component::param dir)
  rm -rf "${dir:?}" "${dir:?}.part"
}

release::unpack() {
  local dir top
  dir=$(component::param dir)
  top=${dir##*/}
  if release::unpacked; then
    log "软件包已解压，跳过" "the package is already unpacked: skipping"
    return 0
  fi
  if [[ -e $dir ]]; then
    log "发现上次解压的残留，先清理环境" "found an earlier unpack: cleaning the environment first"
    release::cleanup
  fi
  mkdir -p "$(dirname "$dir")"
  # Checked against the sha256 the controller computed from the verified package, then unpacked
  # from that same checked copy (scripts/lib/package.sh).
  package::extract "${DR_PACKAGE:?}" "${DR_PACKAGE_SHA256:-}" "$top" "$dir.part"
  step::point "after extracting"
  mv "$dir.part/tree/$top" "$dir"
  rm -rf "${dir:?}.part"
  [[ $(cat "$dir/VERSION") == "$(component::param version)" ]] ||
    die "软件包版本不是 $(component::param version)" "the package is not version $(component::param version)"
  touch "$dir/.unpacked"
}

release::install() {
  local data kept
  release::run install release::copy
  release::run activate release::switch "$(component::param new_release "")"
  step::point "after switching the program"
  local words=()
  component::words units_install words
  "${words[@]}" "${DR_ROLES:-}"
  if release::has_role data_roles; then
    # The new version's database starts from a fresh directory; its data is imported from the
    # backup dump. The old directory is kept until the upgrade is verified.
    data=$(component::param data_dir)
    kept=$(component::param data_kept)
    if [[ -d $data && ! -d $kept ]]; then mv "$data" "$kept"; fi
    rm -rf "${data:?}"
    component::command data_init
  fi
}

execute() { "release::$(component::param action)"; }
rollback() { [[ $(component::param action) != unpack ]] || release::cleanup; }
get_progress() {
  local dir
  dir=$(component::param dir)
  [[ ! -d $dir.part ]] || printf 'unpacking: %s\n' "$(du -sh "$dir.part" 2> /dev/null | cut -f1)"
}
