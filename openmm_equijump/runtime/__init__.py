"""The runtime: a trained model bound to a topology (``load``), exported as a TorchScript jump module
(``export``), run by the plugin's integrator (``integrator``) or as a batch of replicas (``replicas``), in Python
also with its network compiled ahead of time (``compiled``). Never imports training or the data pipeline; the
compiled plugin is imported only by ``integrator``."""
