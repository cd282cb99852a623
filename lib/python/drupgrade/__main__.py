"""Entry point: python -m drupgrade {upgrade|rollback} ARGS."""
import sys

from drupgrade.cli import main

sys.exit(main(sys.argv[1:]))
