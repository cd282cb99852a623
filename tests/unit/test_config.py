"""upgrade.ini loading: validation errors name the file and the place, and exit 2."""
import os

import pytest

from drupgrade import config, i18n
from drupgrade.errors import EXIT_USAGE, DrupgradeError

GOOD = """\
[ssh_config]
username = root
password = s3cr%t
port = 22

[node:node1]
host = 10.231.0.11
roles = db_primary, etcd, kmc, app

[node:node2]
host = 10.231.0.12
roles = db_replica, app
port = 2222
private_key_path = keys/id_ed25519

[heartbeat]
control_interval = 10

[timeouts]
backup_db = 900
"""


@pytest.fixture(autouse=True)
def english():
    i18n.set_lang("en")


def write(tmp_path, text, mode=0o600, name="upgrade.ini"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    os.chmod(str(path), mode)
    return str(path)


def load_error(tmp_path, text, mode=0o600):
    with pytest.raises(DrupgradeError) as exc:
        config.load(write(tmp_path, text, mode))
    assert exc.value.code == EXIT_USAGE
    return exc.value


def test_good_config_has_defaults_and_typed_values(tmp_path):
    cfg = config.load(write(tmp_path, GOOD))
    n1, n2 = cfg.nodes
    assert (n1.name, n1.host, n1.port, n1.roles) == ("node1", "10.231.0.11", 22,
                                                     ["db_primary", "etcd", "kmc", "app"])
    assert n1.password == "s3cr%t" and n1.auth_method == "password"
    assert n2.port == 2222 and n2.auth_method == "key"
    assert n2.private_key_path == str(tmp_path / "keys" / "id_ed25519")
    assert cfg.heartbeat("control") == {"interval": 10, "timeout": 180, "reconnects": 3}
    assert cfg.heartbeat("transfer") == {"interval": 30, "timeout": 120, "reconnects": 2}
    assert cfg.heartbeat("status") == {"interval": 90, "timeout": 300, "reconnects": None}
    assert cfg.transfer["method"] == "auto"
    assert cfg.timeouts == {"backup_db": 900}
    assert cfg.paths["known_hosts"] == "/var/lib/drupgrade/known_hosts"
    assert cfg.secrets == ["s3cr%t"]


@pytest.mark.parametrize("text, where, what", [
    (GOOD.replace("port = 22\n\n", "port = twenty\n\n"), "[ssh_config] port", "whole number"),
    (GOOD.replace("port = 2222", "port = 70000"), "[node:node2] port", "out of range"),
    (GOOD + "\n[transfer]\nmethod = ftp\n", "[transfer] method", "one of: auto, scp, sftp"),
    (GOOD + "\n[bogus]\nx = 1\n", "/", "bogus"),
    (GOOD.replace("control_interval", "control_intervall"), "[heartbeat]", "control_intervall"),
    (GOOD.replace("roles = db_replica, app", "roles = db_replica, webserver"), "[node:node2] roles",
     "webserver"),
    (GOOD.replace("roles = db_replica, app", "roles ="), "[node:node2]", "roles"),
    (GOOD.replace("[node:node1]", "[node:no;de1]"), "nodes", "no;de1"),
    (GOOD.replace("host = 10.231.0.11", "host = $(reboot)"), "[node:node1] host", "not allowed"),
    ("[ssh_config]\nusername = root\n", "/", "nodes"),
    (GOOD + "\n[paths]\nnode_tool_dir = relative/dir\n", "[paths] node_tool_dir", "absolute path"),
    # settings that never had an effect, removed (issue 16): the line to delete is named
    (GOOD.replace("control_interval = 10", "plugin_interval = 45"), "[heartbeat] plugin_interval",
     "this setting was removed: it never had an effect"),
    (GOOD + "\n[plugins]\ndir = plugins\n", "[plugins] dir", "delete the line"),
])
def test_bad_values_name_the_place(tmp_path, text, where, what):
    err = load_error(tmp_path, text)
    assert "upgrade.ini" in err.message
    assert where in err.message
    assert what in err.message
    assert err.hint


@pytest.mark.parametrize("text, what", [
    (b"", "empty"),
    (b"\n  \n", "empty"),
    (GOOD.encode() + b"\n# \xff\xfe\n", "UTF-8"),
    (b"no section header\n", "line 1"),
    (GOOD.encode() + b"\n[ssh_config]\nport = 1\n", "line"),
    (GOOD.encode().replace(b"port = 22\n", b"port = 22\nport = 23\n"), "line"),
])
def test_unreadable_files(tmp_path, text, what):
    err = load_error(tmp_path, text)
    assert what in err.message


def test_missing_file_is_exit_2(tmp_path):
    with pytest.raises(DrupgradeError) as exc:
        config.load(str(tmp_path / "nope.ini"))
    assert exc.value.code == EXIT_USAGE and "nope.ini" in exc.value.message


def test_password_file_readable_by_others_is_refused_with_the_fix(tmp_path):
    err = load_error(tmp_path, GOOD, mode=0o644)
    assert "0644" in err.message
    assert "chmod 600" in err.hint and "upgrade.ini" in err.hint


def test_group_readable_is_refused_too(tmp_path):
    err = load_error(tmp_path, GOOD, mode=0o640)
    assert "chmod 600" in err.hint


def test_key_only_config_may_be_world_readable(tmp_path):
    text = GOOD.replace("password = s3cr%t\n", "")
    cfg = config.load(write(tmp_path, text, mode=0o644))
    assert cfg.secrets == []


def test_password_file_owned_by_someone_else_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to chown the file to another user")
    path = write(tmp_path, GOOD)
    os.chown(path, 4242, -1)
    with pytest.raises(DrupgradeError) as exc:
        config.load(path)
    assert exc.value.code == EXIT_USAGE and "chown" in exc.value.hint


def test_messages_in_chinese(tmp_path):
    if not i18n.find_catalog("zh"):
        pytest.fail("compiled zh catalog missing: run 'make build' first")
    i18n.set_lang("zh")
    err = load_error(tmp_path, GOOD.replace("port = 22\n\n", "port = twenty\n\n"))
    assert "配置文件" in err.message and "整数" in err.message
    assert "任何节点均未被改动" in err.hint


def test_json_data_files_are_validated(tmp_path):
    schema_dir = tmp_path / "schemas"
    path = write(tmp_path, '{"a": [1, "x"]}', name="data.json")
    config.SCHEMA_DIR, old = str(schema_dir), config.SCHEMA_DIR
    try:
        schema_dir.mkdir()
        (schema_dir / "t.json").write_text(
            '{"type": "object", "properties": {"a": {"type": "array", "items": {"type": "integer"}}}}')
        with pytest.raises(DrupgradeError) as exc:
            config.load_json(path, "t")
        assert "/a/1" in exc.value.message and "whole number" in exc.value.message
        bad = write(tmp_path, '{"a": [1,', name="bad.json")
        with pytest.raises(DrupgradeError) as exc:
            config.load_json(bad, "t")
        assert "not valid JSON" in exc.value.message and "line 1" in exc.value.message
    finally:
        config.SCHEMA_DIR = old


# -- dedicated directories (SPEC S5, audit H4): the tool creates, writes and removes things there ----------
@pytest.mark.parametrize("key", ["node_tool_dir", "node_package_dir", "node_backup_dir", "node_run_dir", "state_dir"])
@pytest.mark.parametrize("value, what", [
    ("/", "system directory"),
    ("/usr", "system directory"),
    ("/opt", "system directory"),
    ("/etc", "system directory"),
    ("/var", "system directory"),
    ("/var/lib", "system directory"),
    ("/home", "system directory"),
    ("/root", "system directory"),
    ("/boot", "system directory"),
    ("/lib64", "system directory"),
    ("/run", "system directory"),
    ("/tmp", "system directory"),
    ("/srv", "system directory"),
    ("/usr/local", "system directory"),
    ("/proc/1", "/proc, /sys or /dev"),
    ("/sys", "/proc, /sys or /dev"),
    ("/dev/shm/x", "/proc, /sys or /dev"),
    ("/opt/../etc", ". or .. segments"),
    ("/opt/./drupgrade", ". or .. segments"),
    ("/opt/drupgrade/..", ". or .. segments"),
    ("/opt//drupgrade", "//"),
    ("/opt/drupgrade/", "must not end with /"),
    ("opt/drupgrade", "absolute path"),
    ("~/drupgrade", "absolute path"),
    ("/opt/drup grade", "letters, digits"),
])
def test_a_directory_the_tool_writes_must_be_its_own(tmp_path, key, value, what):
    err = load_error(tmp_path, GOOD + "\n[paths]\n%s = %s\n" % (key, value))
    assert "[paths] %s" % key in err.message and what in err.message, err.message
    assert repr(value) in err.message


@pytest.mark.parametrize("value", ["/opt/drupgrade-backup", "/usr/local/drupgrade", "/var/lib/drupgrade", "/backup",
                                   "/data/dr/backups", "/srv/drupgrade-2", "/opt/.drupgrade"])
def test_dedicated_directories_are_accepted(tmp_path, value):
    cfg = config.load(write(tmp_path, GOOD + "\n[paths]\nnode_backup_dir = %s\nstate_dir = %s\n" % (value, value)))
    assert cfg.paths["node_backup_dir"] == value and cfg.paths["state_dir"] == value


@pytest.mark.parametrize("paths, key, what", [
    ("node_tool_dir = /var/lib/drupgrade", "node_tool_dir", "node_package_dir"),
    ("node_tool_dir = /var/lib/drupgrade/runs/tool", "node_tool_dir", "node_run_dir"),
    ("node_tool_dir = /backup", "node_tool_dir", "node_backup_dir"),
    ("node_tool_dir = /var/lib/drupgrade/work", "node_tool_dir", "/var/lib/drupgrade/work"),
    ("node_tool_dir = /opt/dr\nnode_package_dir = /opt/dr/packages", "node_tool_dir", "node_package_dir"),
    ("node_run_dir = /backup", "node_run_dir", "node_backup_dir"),
])
def test_the_tool_dir_must_not_overlap_another_dir_of_the_tool(tmp_path, paths, key, what):
    err = load_error(tmp_path, GOOD + "\n[paths]\n%s\n" % paths)
    assert "[paths] %s" % key in err.message and what in err.message, err.message
# -- files the tool trusts (audit M3, L8): opened once, checked on the descriptor, capped ------------
KEY_ONLY = GOOD.replace("password = s3cr%t\n", "")


def test_key_only_config_writable_by_others_is_refused_with_the_fix(tmp_path):
    for mode in (0o666, 0o664, 0o646):
        err = load_error(tmp_path, KEY_ONLY, mode=mode)
        assert "can be changed by other users" in err.message and "%04o" % mode in err.message
        assert "chmod go-w " + str(tmp_path / "upgrade.ini") in err.hint


def test_key_only_config_owned_by_another_user_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to chown the file to another user")
    path = write(tmp_path, KEY_ONLY, mode=0o644)
    os.chown(path, 65534, -1)
    with pytest.raises(DrupgradeError) as exc:
        config.load(path)
    assert exc.value.code == EXIT_USAGE
    assert "owned by nobody" in exc.value.message and "0644" in exc.value.message
    assert "chown root " + path in exc.value.hint


def test_a_config_in_a_directory_others_can_write_is_refused_unless_sticky(tmp_path):
    d = tmp_path / "shared"
    d.mkdir()
    path = write(d, KEY_ONLY, mode=0o644)
    os.chmod(str(d), 0o777)
    with pytest.raises(DrupgradeError) as exc:
        config.load(path)
    assert exc.value.code == EXIT_USAGE and "the directory of" in exc.value.message and str(d) in exc.value.message
    assert "chmod go-w " + str(d) in exc.value.hint
    os.chmod(str(d), 0o1777)  # like /tmp: nobody can replace another user's file in it
    assert config.load(path).nodes
    os.chmod(str(d), 0o777)
    safe = tmp_path / "safe"
    safe.mkdir()
    os.rename(path, str(safe / "upgrade.ini"))
    os.symlink(str(safe / "upgrade.ini"), path)  # a link others could point elsewhere
    with pytest.raises(DrupgradeError) as exc:
        config.load(path)
    assert "the directory of" in exc.value.message and str(d) in exc.value.message
    assert config.load(str(safe / "upgrade.ini")).nodes


@pytest.mark.parametrize("special", ["/dev/zero", "fifo", "dir"])
def test_not_a_regular_file_is_exit_2_never_a_hang(tmp_path, special):
    path = special
    if special == "fifo":
        path = str(tmp_path / "fifo")
        os.mkfifo(path, 0o600)  # nobody writes to it: reading it would block forever
    elif special == "dir":
        path = str(tmp_path)
    with pytest.raises(DrupgradeError) as exc:
        config.load(path)
    assert exc.value.code == EXIT_USAGE and "is not a regular file" in exc.value.message and path in exc.value.message


def test_a_huge_file_is_refused_without_reading_it_all(tmp_path):
    path = write(tmp_path, KEY_ONLY + "#" * config.MAX_FILE_BYTES + "\n", mode=0o600)
    with pytest.raises(DrupgradeError) as exc:
        config.load(path)
    assert exc.value.code == EXIT_USAGE and "larger than" in exc.value.message


def test_a_byte_order_mark_is_accepted_and_crlf_too(tmp_path):
    cfg = config.load(write(tmp_path, b"\xef\xbb\xbf" + GOOD.replace("\n", "\r\n").encode()))
    assert [n.name for n in cfg.nodes] == ["node1", "node2"] and cfg.secrets == ["s3cr%t"]


@pytest.mark.parametrize("value", ["first\n  second", "pass\x1bword", "tab\tbed"])
def test_a_password_with_a_line_break_or_control_character_is_refused_unechoed(tmp_path, value):
    err = load_error(tmp_path, GOOD.replace("password = s3cr%t", "password = " + value))
    assert "[ssh_config] password" in err.message and "control character" in err.message
    assert value.split()[0] not in err.message  # never echo a secret


def test_json_data_files_are_checked_like_the_config(tmp_path):
    path = write(tmp_path, '{"policies": {}}', mode=0o666, name="retry_policy.json")
    with pytest.raises(DrupgradeError) as exc:
        config.load_json(path, "retry_policy")
    assert exc.value.code == EXIT_USAGE and "can be changed by other users" in exc.value.message
    matrix = open(os.path.join(config.PRODUCTS_DIR, "drp", "version_matrix.json"), "rb").read()
    bom = write(tmp_path, b"\xef\xbb\xbf" + matrix, name="m.json")
    assert config.load_json(bom, "version_matrix")["versions"][0] == "v1.0.0"


def files_config(tmp_path, **extra):
    lines = [KEY_ONLY.replace("private_key_path = keys/id_ed25519", "private_key_path = id_key")]
    for section, values in extra.items():
        lines.append("[%s]\n%s\n" % (section, "".join("%s = %s\n" % kv for kv in values.items())))
    return write(tmp_path, "\n".join(lines), mode=0o644)


def test_private_key_readable_or_writable_by_others_is_refused_before_ssh_sees_it(tmp_path):
    key = tmp_path / "id_key"
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    path = files_config(tmp_path)
    for mode, what in ((0o644, "can be read by other users"), (0o620, "can be changed by other users")):
        os.chmod(str(key), mode)
        with pytest.raises(DrupgradeError) as exc:
            config.load(path)
        assert exc.value.code == EXIT_USAGE and "private key " + str(key) in exc.value.message
        assert what in exc.value.message
    os.chmod(str(key), 0o600)
    assert config.load(path).nodes[1].private_key_path == str(key)


def test_known_hosts_public_key_and_repo_are_checked(tmp_path):
    kh, pub, repo = tmp_path / "kh", tmp_path / "drp.pub", tmp_path / "repo"
    kh.write_text("")
    pub.write_text("-----BEGIN PUBLIC KEY-----\n")
    repo.mkdir()
    path = files_config(tmp_path, paths={"known_hosts": "kh"}, packages={"repo": "repo", "public_key": "drp.pub"})
    for target, mode, what in ((kh, 0o666, "known_hosts file"), (pub, 0o664, "package public key"),
                               (repo, 0o1777, "package repository")):
        os.chmod(str(target), mode)
        with pytest.raises(DrupgradeError) as exc:
            config.load(path)
        assert what in exc.value.message and str(target) in exc.value.message and exc.value.code == EXIT_USAGE
        os.chmod(str(target), 0o755 if target == repo else 0o644)
    repo.rmdir()
    repo.write_text("")
    with pytest.raises(DrupgradeError) as exc:
        config.load(path)
    assert "is not a directory" in exc.value.message
    repo.unlink()
    assert config.load(path).section("packages")["repo"] == str(repo)  # missing: the run says so later


def test_read_checked_serves_other_parts(tmp_path):
    """One function for every file the tool reads and trusts (the package public key too)."""
    pub = write(tmp_path, "key", mode=0o644, name="drp.pub")
    data, st = config.read_checked(pub, "package public key")
    assert data == b"key" and st.st_size == 3


# -- configuration that cannot work (issue 12 point 9) --------------------------------------------------
@pytest.mark.parametrize("change, what", [
    (("roles = db_replica, app", "roles = db_primary, app"), "2 nodes have the role db_primary (node1, node2)"),
    (("roles = db_primary, etcd, kmc, app", "roles = etcd, kmc, app"),
     "node(s) node2 have the role db_replica, which needs a node with the role db_primary"),
    (("roles = db_primary, etcd, kmc, app", "roles = db_primary, kmc, app"), "0 node(s) have the role etcd"),
    (("host = 10.231.0.12\nroles = db_replica, app\nport = 2222", "host = 10.231.0.11\nroles = db_replica, app"),
     "nodes node1, node2 have the same host and port 10.231.0.11:22"),
    (("[node:node2]", "[node:NODE1]"), "node names NODE1, node1 differ only in upper and lower case"),
])
def test_a_cluster_that_cannot_work_is_refused_naming_the_nodes(tmp_path, change, what):
    assert change[0] in GOOD
    err = load_error(tmp_path, GOOD.replace(*change))
    assert what in err.message and "upgrade.ini" in err.message and "nothing was changed" in err.hint


def test_cluster_rules_in_chinese(tmp_path):
    i18n.set_lang("zh")
    err = load_error(tmp_path, GOOD.replace("roles = db_replica, app", "roles = db_primary, app"))
    assert "db_primary" in err.message and "node1, node2" in err.message and "角色" in err.message


def test_the_same_port_on_another_host_is_fine(tmp_path):
    cfg = config.load(write(tmp_path, GOOD.replace("port = 2222", "port = 22")))
    assert [n.port for n in cfg.nodes] == [22, 22]
