"""The model: equivariant networks (``nn``), transports and their config (``transports``), the network with
its loss (``network``), the jump sampler (``sampler``), the batch it trains on (``batch``) and checkpoints
(``checkpoint``). Knows tensors in Angstrom; ``nn`` knows neither residues nor OpenMM."""
