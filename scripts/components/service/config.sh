# shellcheck shell=bash
# Component service/config (common services: config management): install a config file the
# controller mapped key by key (drupgrade.configmap: INI <-> JSON, renames, removals, defaults from
# the product's mapping file) in place of the node's, keeping its owner and mode.
# Parameters (the controller fills mapped):
#   file           the node's config file the mapping read
#   target         the file the mapped config becomes (default: file; another name when the format
#                  changes, e.g. app.ini -> app.json: file is then removed)
#   mapped         where the controller put the mapped text (a file on this node)
#   mapping        the mapping file, in the product's directory (said in the log)
# shellcheck source=scripts/components/base/files.sh
source "$COMPONENTS_DIR/base/files.sh"

config::target() { component::param target "$(component::param file)"; }

pre_check() {
  [[ -f $(component::param mapped) ]] ||
    die "缺少控制器转换后的配置 $(component::param mapped)（在 upload_package 工步生成）" \
      "the mapped config $(component::param mapped) is missing (the controller writes it in upload_package)"
}

post_check() {
  local file target
  file=$(component::param file)
  target=$(config::target)
  cmp -s "$target" "$(component::param mapped)" && { [[ $target == "$file" ]] || [[ ! -e $file ]]; }
}

execute() {
  local file target ref
  file=$(component::param file)
  target=$(config::target)
  ref=$file
  [[ -e $ref ]] || ref=$target
  cat "$(component::param mapped)" > "$target.part"
  chown --reference="$ref" "$target.part"
  chmod --reference="$ref" "$target.part"
  files::fsync "$target.part"
  mv -f "$target.part" "$target"
  [[ $target == "$file" ]] || rm -f "$file"
  files::fsync "$(dirname "$target")"
  log "已按 $(component::param mapping "") 转换配置 $file -> $target" \
    "config $file -> $target mapped by $(component::param mapping "")"
}

rollback() { rm -f "$(config::target).part"; }
