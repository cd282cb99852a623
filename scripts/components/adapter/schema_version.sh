# shellcheck shell=bash
# Component adapter/schema_version (version adaptation): run the migration command of a version,
# then the recorded schema version must be that version.
# Parameters:
#   run             the migration command (words)
#   version         the version the schema must be at afterwards
#   schema_version  a command (words) that prints the recorded schema version
#   point           a name for the fault-injection crash point before the migration (optional)

adapter::at_version() { [[ $(component::command schema_version) == "$(component::param version)" ]]; }
execute() {
  [[ -z $(component::param point "") ]] || step::point "$(component::param point)"
  component::command run
  adapter::at_version || die "数据库版本不是 $(component::param version)" "the schema is not at $(component::param version)"
}
post_check() { adapter::at_version; }
get_progress() { printf 'schema %s\n' "$(component::command schema_version 2>&1)"; }
