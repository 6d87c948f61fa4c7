"""``python -m openmm_equijump.simulate``: the command line of ``openmm_equijump.cli.simulate``."""
import sys

from .cli.simulate import main

if __name__ == "__main__":
    sys.exit(main())
