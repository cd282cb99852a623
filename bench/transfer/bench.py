#!/usr/bin/env python3
"""Transfer benchmarks (SPEC §7): our upload vs plain default scp of the same file in the
same run, the SFTP fallback vs scp, a skipped re-upload vs one sha256sum, and the per-command
overhead on the multiplexed connection vs a bare multiplexed `ssh … true` and a fresh one.

  LAB_NAME=dr4 LAB_SUBNET=10.234.0 bench/transfer/bench.py [--node node1] [--size-mb 512] [--repeat 3] [--json]

(the lab is found like tests/lab/lab.sh finds it: LAB_DIR, else build/lab-$LAB_NAME).

Runs against a lab node (key auth, tests/lab/lab.sh up). Repetitions are interleaved so that
load on a shared machine hits every variant alike; medians are reported. Ratios, not times,
are the result (SPEC: "ratios only" on a shared machine).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "lib", "python"))

from drupgrade.transport import SessionPool  # noqa: E402
from drupgrade.transport.policy import Endpoint, TransportSettings, cpu_has_aes  # noqa: E402
from drupgrade.transport.transfer import FileTransferManager  # noqa: E402

REMOTE_DIR = "/var/lib/drupgrade/bench"


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    name = os.environ.get("LAB_NAME", "drl")
    ap.add_argument("--lab-dir", default=os.environ.get("LAB_DIR") or os.path.join(
        TOP, "build", "lab" if name == "drl" else "lab-" + name))
    ap.add_argument("--node", default="node1")
    ap.add_argument("--size-mb", type=int, default=512)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--commands", type=int, default=30)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    load_start = os.getloadavg()

    with open(os.path.join(a.lab_dir, "nodes.json")) as f:
        info = {n["name"]: n for n in json.load(f)["nodes"]}
    host = info[a.node]["address"]
    key = os.path.join(a.lab_dir, "id_ed25519")
    work = tempfile.mkdtemp(prefix="drbench-")
    cm = tempfile.mkdtemp(prefix="dcm-")
    kh = os.path.join(work, "known_hosts")
    settings = TransportSettings(known_hosts=kh, control_dir=cm)
    ep = Endpoint(a.node, host, 22, "root", private_key_path=key)
    plain = ["-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
             "-o", "UserKnownHostsFile=" + kh, "-o", "StrictHostKeyChecking=accept-new", "-o", "LogLevel=ERROR"]

    src = os.path.join(work, "payload.tar.gz")  # incompressible, like a product package
    with open(src, "wb") as f:
        for _i in range(a.size_mb // 8):
            f.write(os.urandom(8 << 20))
    size = os.path.getsize(src)

    pool = SessionPool(settings)
    ctl = pool.session(ep, "control")
    ctl.run(["mkdir", "-p", REMOTE_DIR])

    def rm(*names):
        ctl.run(["rm", "-f", "--"] + [REMOTE_DIR + "/" + n for n in names])

    def default_scp():
        subprocess.run(["scp"] + plain + [src, "root@%s:%s/scp.bin" % (host, REMOTE_DIR)], check=True)

    def ours(method):
        settings.method = method
        m = FileTransferManager(settings, pool)
        try:
            m.upload_file(src, "%s/ours-%s.bin" % (REMOTE_DIR, method), ep, skip_identical=False)
        finally:
            m._engines.clear()  # keep the masters (pool), drop SFTP engines below
        return m

    sftp_mgr = {}

    def ours_sftp():
        settings.method = "sftp"
        m = sftp_mgr.get("m")
        if m is None:
            m = sftp_mgr["m"] = FileTransferManager(settings, pool)
        m.upload_file(src, "%s/ours-sftp.bin" % REMOTE_DIR, ep, skip_identical=False)

    from drupgrade.transport.progress import TransferProgress
    from drupgrade.transport.scp import ScpEngine
    from drupgrade.transport.sftp import SftpEngine
    scp_engine = ScpEngine(pool.session(ep, "transfer"))
    sftp_engine = SftpEngine(ep, settings)

    def raw(engine, name):
        """The engine's put alone (the transfer; the node hashes beside it): no probe, no
        local sha256, no comparison, no rename."""
        engine.put(src, "%s/%s" % (REMOTE_DIR, name), 0, TransferProgress(a.node, name, size, engine.name))

    # warm: caches, masters, known_hosts, local sha of the payload
    default_scp()
    ours("scp")
    ours_sftp()
    raw(scp_engine, "raw-scp.bin")
    raw(sftp_engine, "raw-sftp.bin")
    runs = {"scp_default": [], "ours_scp": [], "ours_sftp": [], "transfer_only_scp": [], "transfer_only_sftp": []}
    for _r in range(a.repeat):
        rm("scp.bin", "ours-scp.bin", "ours-sftp.bin", "raw-scp.bin", "raw-sftp.bin")
        runs["scp_default"].append(timed(default_scp))
        runs["transfer_only_scp"].append(timed(lambda: raw(scp_engine, "raw-scp.bin")))
        runs["ours_scp"].append(timed(lambda: ours("scp")))
        runs["transfer_only_sftp"].append(timed(lambda: raw(sftp_engine, "raw-sftp.bin")))
        runs["ours_sftp"].append(timed(ours_sftp))
    sftp_engine.close()

    # skipped re-upload (fresh manager: the local sha256 is computed again) vs one sha256sum
    settings.method = "scp"
    remote_file = "%s/scp.bin" % REMOTE_DIR
    skip, skip_warm, sums, ossl = [], [], [], []
    warm = FileTransferManager(settings, pool)
    warm.upload_file(src, remote_file, ep)
    for _r in range(a.repeat):
        sums.append(timed(lambda: ctl.run(["sha256sum", "--", remote_file])))
        ossl.append(timed(lambda: ctl.run(["openssl", "dgst", "-sha256", "-r", remote_file])))
        mgr = FileTransferManager(settings, pool)
        t0 = time.perf_counter()
        res = mgr.upload_file(src, remote_file, ep)
        skip.append(time.perf_counter() - t0)
        assert res.action == "skipped"
        skip_warm.append(timed(lambda: warm.upload_file(src, remote_file, ep)))

    # per-command overhead: our run() vs bare multiplexed ssh vs a fresh connection
    ctl.run(["true"])
    ours_cmd, bare_mux, fresh = [], [], []
    bare = ["ssh"] + plain + ["-o", "ControlPath=" + ctl.args.control_path, "-o", "ControlMaster=no",
                              "root@" + host, "true"]
    fresh_argv = ["ssh"] + plain + ["-o", "ControlPath=none", "root@" + host, "true"]
    for _i in range(a.commands):
        ours_cmd.append(timed(lambda: ctl.run(["true"])))
        bare_mux.append(timed(lambda: subprocess.run(bare, check=True)))
        if _i < 10:
            fresh.append(timed(lambda: subprocess.run(fresh_argv, check=True)))

    pool.close()
    if sftp_mgr:
        sftp_mgr["m"].close()
    med = {k: statistics.median(v) for k, v in runs.items()}
    out = {
        "node": a.node, "size_bytes": size, "repeat": a.repeat, "cpu_aes": cpu_has_aes(),
        "upload_seconds": med,
        "upload_mb_s": {k: round(size / v / 1e6, 1) for k, v in med.items()},
        "transfer_scp_vs_default_scp": round(med["scp_default"] / med["transfer_only_scp"], 2),
        "transfer_sftp_vs_default_scp": round(med["scp_default"] / med["transfer_only_sftp"], 2),
        "upload_scp_vs_default_scp": round(med["scp_default"] / med["ours_scp"], 2),
        "upload_sftp_vs_default_scp": round(med["scp_default"] / med["ours_sftp"], 2),
        "skip_seconds": statistics.median(skip), "skip_warm_seconds": statistics.median(skip_warm),
        "sha256sum_seconds": statistics.median(sums),
        "skip_vs_sha256sum": round(statistics.median(skip) / statistics.median(sums), 2),
        "openssl_sha256_seconds": statistics.median(ossl),
        "skip_vs_openssl_sha256": round(statistics.median(skip) / statistics.median(ossl), 2),
        "skip_warm_vs_openssl_sha256": round(statistics.median(skip_warm) / statistics.median(ossl), 2),
        "load_average_start_end": [load_start[0], os.getloadavg()[0]],
        "cmd_ours_ms": round(1000 * statistics.median(ours_cmd), 1),
        "cmd_bare_mux_ms": round(1000 * statistics.median(bare_mux), 1),
        "cmd_fresh_ms": round(1000 * statistics.median(fresh), 1),
        "cmd_ours_vs_bare_mux": round(statistics.median(ours_cmd) / statistics.median(bare_mux), 2),
        "cmd_ours_vs_fresh": round(statistics.median(ours_cmd) / statistics.median(fresh), 2),
        "raw": {k: [round(x, 3) for x in v] for k, v in runs.items()},
    }
    subprocess.run(["rm", "-rf", work, cm])
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print("%-38s %s" % (k, v))
    return 0


if __name__ == "__main__":
    sys.exit(main())
