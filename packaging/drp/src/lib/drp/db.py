"""Talk to MariaDB through the `mariadb` client (python3 stdlib only on nodes)."""
import os
import subprocess
import tempfile

SOCKET = "/run/mysqld/mysqld.sock"


class DBError(Exception):
    pass


def sql_quote(value):
    """A SQL string literal (for values we generate; never for identifiers)."""
    if value is None:
        return "NULL"
    s = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return "'" + s + "'"


def client_cnf(user, password, host=None, port=3306, directory=None):
    """Write a 0600 [client] option file so no password is on a command line; return its path."""
    fd, path = tempfile.mkstemp(prefix="drp-cnf-", suffix=".cnf", dir=directory)
    with os.fdopen(fd, "w") as f:
        f.write("[client]\nuser=%s\npassword=%s\n" % (user, password))
        if host:
            f.write("host=%s\nport=%d\nprotocol=TCP\n" % (host, int(port)))
    os.chmod(path, 0o600)
    return path


def client(program="mariadb", cnf=None):
    """argv start for a MariaDB client; DRP_DB_SOCKET overrides the socket (host-side tests)."""
    cmd = [program]
    if cnf:
        cmd.append("--defaults-extra-file=" + cnf)
    if os.environ.get("DRP_DB_SOCKET") and not (cnf and "host=" in open(cnf).read()):
        cmd.append("--socket=" + os.environ["DRP_DB_SOCKET"])
    return cmd


def run(sql, database=None, cnf=None, timeout=60, log_bin=True):
    """Run SQL (batch mode, tab separated, no headers); return the rows as lists of strings.

    Without cnf the client logs in as the calling user over the socket (root: unix_socket).
    log_bin=False runs the statements with sql_log_bin=0 (local-only changes on a replica).
    """
    cmd = client("mariadb", cnf) + ["--batch", "--skip-column-names", "--raw", "--connect-timeout=5"]
    if database:
        cmd.append(database)
    if not log_bin:
        sql = "SET SESSION sql_log_bin=0;\n" + sql
    try:
        p = subprocess.run(cmd, input=sql, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DBError("timeout after %ss" % timeout) from None
    if p.returncode != 0:
        raise DBError(p.stderr.strip().splitlines()[-1] if p.stderr.strip() else "rc %d" % p.returncode)
    return [line.split("\t") for line in p.stdout.splitlines()]


def scalar(sql, **kw):
    rows = run(sql, **kw)
    return rows[0][0] if rows and rows[0] else None


def can_login(user, password, host=None, port=3306):
    """True if user/password opens a session (socket when host is None)."""
    cnf = client_cnf(user, password, host, port)
    try:
        run("SELECT 1", cnf=cnf, timeout=15)
        return True
    except DBError:
        return False
    finally:
        os.unlink(cnf)


def ping(timeout=5):
    p = subprocess.run(client("mariadb-admin") + ["--connect-timeout=2", "ping"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout)
    return p.returncode == 0
