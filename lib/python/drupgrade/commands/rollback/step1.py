"""rollback_tool step1: stop the current services (one step of the manual session)."""
from drupgrade.commands.rollback._session import run_step
from drupgrade.i18n import N_

SUMMARY = N_("manual session step 1: stop the current services")
MUTATES = True  # changes the nodes: takes the run lock, warns when fault injection is on


def add_arguments(parser):
    pass


def run(ctx):
    return run_step(ctx, 1)
