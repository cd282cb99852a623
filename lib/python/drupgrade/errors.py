"""Exit codes (SPEC 2.1) and the one error type the operator sees."""

EXIT_OK = 0
EXIT_FAILED = 1  # failed, state kept, resumable
EXIT_USAGE = 2  # usage or configuration error, nothing touched
EXIT_PRECHECK = 3
EXIT_CONFIRM = 4
EXIT_LOCKED = 5
EXIT_INTERRUPTED = 130


class DrupgradeError(Exception):
    """An error for the operator: an already translated message, a hint, an exit code."""

    def __init__(self, message, code=EXIT_FAILED, hint=None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.hint = hint

    def __str__(self):
        return self.message
