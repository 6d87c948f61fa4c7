"""``python -m openmm_equijump.train``: the command line of ``openmm_equijump.cli.train``."""
import sys

from .cli.train import main

if __name__ == "__main__":
    sys.exit(main())
