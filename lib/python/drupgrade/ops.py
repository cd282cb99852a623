"""What the engine asks of the nodes, written down: the ops interface (NodeOpsBase) that the real
ops (nodeops.NodeOps, over the transport) and the engine tests' fakes both subclass, and RunLost,
the one exception of the interface besides DrupgradeError. The engine imports this module only:
it never sees the transport, and the ops never import the engine.

A node is an object with `name` and `roles` (config.Node, or engine.ControllerNode for the
controller's own steps); a step is a steps.Step. A hop's node steps run on a node as one
detached run (`drstep chain`) named by its run key; its log carries the marker lines that the
engine journals (engine.RunLog).
"""


class RunLost(Exception):
    """The node has no trace of a detached run (rebooted, wiped): re-verify instead of trusting."""


class NodeOpsBase:
    """The operations the engine performs on nodes. Every method may raise DrupgradeError when
    the node cannot be reached past the transport's reconnect budget: the engine then treats the
    state of what runs there as unknown (engine.NodeLost), never as a failure."""

    # -- a run of node steps --------------------------------------------------------------------
    def start(self, node, steps, run_key, hop, versions, gates=(), nonce=""):
        """Steps (in order) as one run `run_key` on the node: `drstep chain`, a step named in
        `gates` waits at its gate until open_gate(). `nonce`: the secret of the run's marker
        lines (journal.Journal.nonce). The run may begin with the first wait(); a run key the
        node already has is attached to, never started twice."""
        raise NotImplementedError

    def wait(self, node, run_key, seconds, sink):
        """Follow the run for up to `seconds`: the new bytes of its log go to sink(bytes). The
        run's exit code when it ended, None while it still runs. RunLost when the node has no
        trace of it."""
        raise NotImplementedError

    def open_gate(self, node, run_key, name):
        """Let the run's step `name` begin (it waits at its gate, or will)."""
        raise NotImplementedError

    def follow_with(self, node, run_key, conn_type):
        """Follow the run from now on over a connection of conn_type (`plugin` while a step with
        plugins runs: design §4.6.1). Nothing to do where there is no connection (the fakes)."""

    def stop_run(self, node, run_key):
        """The run ends before its next step (a step under way finishes; at a gate it stops)."""
        raise NotImplementedError

    def settle(self, node, run_key):
        """End the run for good and confirm it (a chain at a gate is told to stop, else TERM,
        a grace period, KILL): {"state": "done"|"lost"|"missing", "rc": int or None,
        "signal": "none"|"stop"|"term"|"kill"}. DrupgradeError when the node cannot tell."""
        raise NotImplementedError

    # -- one step ------------------------------------------------------------------------------
    def check(self, node, step, hop):
        """True when the step's own check (in the context of `hop`) says it is already done on the node."""
        raise NotImplementedError

    def cleanup(self, node, step, hop):
        """The step's cleanup on the node, in the context of `hop` (a controller step has none).
        DrupgradeError saying why when it fails."""
        raise NotImplementedError

    def local(self, node, step, hop, versions):
        """Run one of the controller's own steps (step.local) for the node: its exit code (0 ok,
        else failed), or DrupgradeError with the reason."""
        raise NotImplementedError

    def cancel_local(self, node, step):
        """A controller step past its timeout: what it started on the nodes is ended (its thread
        cannot be stopped, its work on the nodes can); most steps have nothing there to end."""
        raise NotImplementedError

    # -- what the timeout watch shows (design §4.3) ------------------------------------------
    def resources(self, node, step):
        """The node's load as {"cpu": …, "mem": …, "io": …} (percent, as text)."""
        raise NotImplementedError

    def context(self, node, step, run_key):
        """The node's context of a step that timed out (processes, connections, the run's log
        tail), as text safe to save; secrets masked."""
        raise NotImplementedError

    def latency_ms(self, node):
        """One round trip to the node, in milliseconds."""
        raise NotImplementedError
