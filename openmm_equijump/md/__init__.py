"""Reference MD: structures prepared with PDBFixer (``prepare``) and amber14/OBC2 implicit-solvent runs
(``reference``). Knows OpenMM; nothing of the model. Command line: ``python -m openmm_equijump.md``."""
from .prepare import PreparedStructure, prepare_structure
from .reference import MDConfig, md_ns_per_day, native_obc2_system, run_reference_md, system_ns_per_day

__all__ = ["MDConfig", "PreparedStructure", "md_ns_per_day", "native_obc2_system", "prepare_structure",
           "run_reference_md", "system_ns_per_day"]
