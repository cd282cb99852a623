"""rollback_tool step4: restore the system config (one step of the manual session)."""
from drupgrade.commands.rollback._session import run_step
from drupgrade.i18n import N_

SUMMARY = N_("manual session step 4: restore the system config")


def add_arguments(parser):
    pass


def run(ctx):
    return run_step(ctx, 4)
