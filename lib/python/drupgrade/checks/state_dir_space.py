"""The controller's state dir has room for the run's journal, logs and manifests (a full disk
there stops the run halfway: every step start and end is written before the run goes on)."""
import os

from drupgrade.i18n import N_, both
from drupgrade.precheck import Finding

ID = "state_dir_space"
SUMMARY = N_("free space in the controller's state directory")
ORDER = 50
STAGE = "cluster"
FAIL_MB = 64  # a run writes its journal, step logs, manifests and reports: a few MB, with room to spare
WARN_MB = 256
MIN_INODES = 1000


def run(env):
    state_dir = env.cfg.paths["state_dir"]
    st = os.statvfs(state_dir)
    free_mb = st.f_bavail * st.f_frsize // (1024 * 1024)
    detail = ["%s: %d MB free, %d inodes free" % (state_dir, free_mb, st.f_favail)]
    fix = both(N_("free space in {dir} (df -h {dir}; old runs' logs are in {dir}/logs) or set [paths] "
                  "state_dir to a larger disk, then run the precheck again"), dir=state_dir)
    if free_mb < FAIL_MB or (st.f_files and st.f_favail < MIN_INODES):
        return [Finding(ID, "controller", "fail", both(
            N_("the state directory {dir} has {free} MB and {inodes} inodes free (needed: {need} MB, {need_inodes} "
               "inodes)"), dir=state_dir, free=free_mb, inodes=st.f_favail, need=FAIL_MB, need_inodes=MIN_INODES),
            fix, detail)]
    if free_mb < WARN_MB:
        return [Finding(ID, "controller", "warn", both(
            N_("the state directory {dir} has only {free} MB free"), dir=state_dir, free=free_mb), fix, detail)]
    return [Finding(ID, "controller", "pass", both(N_("{free} MB free in {dir}"), free=free_mb, dir=state_dir),
                    None, detail)]
