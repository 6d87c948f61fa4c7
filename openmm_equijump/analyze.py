"""``python -m openmm_equijump.analyze``: the command line of ``openmm_equijump.cli.analyze``."""
import sys

from .cli.analyze import main

if __name__ == "__main__":
    sys.exit(main())
