"""rollback_tool auto_continue_from N: finish the session automatically from step N (§4.4.2.2)."""
from drupgrade import rollback
from drupgrade.commands.rollback._session import needs_before, session
from drupgrade.i18n import N_, _

NAME = "auto_continue_from"  # the design's verb, with underscores
SUMMARY = N_("finish the rollback session automatically from step N")
MUTATES = True  # changes the nodes: takes the run lock, warns when fault injection is on


def add_arguments(parser):
    numbers = rollback.numbers()
    parser.add_argument("n", metavar="N", type=int, choices=numbers,
                        help=_("the step to start at ({first}-{last})").format(first=numbers[0], last=numbers[-1]))


def run(ctx):
    with rollback.Rollback(ctx) as rb, rb.lock("auto_continue_from %d" % ctx.args.n):
        journal = session(rb, _("continue"))
        needs_before(rb, journal, ctx.args.n)
        rb.claim_nodes(journal, "auto_continue_from %d" % ctx.args.n)
        rb.refresh_nodes(journal)
        rb.reverify(journal, rollback.numbers(ctx.args.n))
        rb.rerun_from(journal, ctx.args.n)
        return rb.auto(journal, ctx.args.n)
