"""rollback_tool step1 … stepN: one step of the manual session, a command per step that
scripts/steps/rollback/ declares (its Rollback-step number; its help from its Label)."""
from drupgrade import rollback
from drupgrade.commands.rollback._session import run_step
from drupgrade.i18n import _


class StepCommand:
    """The command stepN: what cli.build_parser needs of a command module."""

    MUTATES = True  # changes the nodes: takes the run lock, warns when fault injection is on

    def __init__(self, n):
        self.n = n

    @property
    def SUMMARY(self):  # the name every command module uses
        return _("manual session step {n}: {label}").format(n=self.n, label=rollback.label(self.n))

    def add_arguments(self, parser):
        pass

    def run(self, ctx):
        return run_step(ctx, self.n)


def commands():
    """{stepN: its command} for every declared step."""
    return {"step%d" % n: StepCommand(n) for n in rollback.numbers()}
