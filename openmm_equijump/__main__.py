"""``python -m openmm_equijump``: the main job, ``python -m openmm_equijump.simulate`` (same options)."""
import sys

from .cli.simulate import main

if __name__ == "__main__":
    sys.exit(main())
