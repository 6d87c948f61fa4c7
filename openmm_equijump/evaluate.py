"""``python -m openmm_equijump.evaluate``: the command line of ``openmm_equijump.cli.evaluate``."""
import sys

from .cli.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
