"""The runtime: a trained model bound to a topology (``load``), exported as a TorchScript jump module
(``export``), possibly with its network compiled ahead of time (``compiled``), run by the plugin's integrator
(``integrator``) or as a batch of replicas (``replicas``). Never imports training or the data pipeline. The
plugin's library is loaded by ``integrator``, and by ``compiled`` and ``export.load_jump_module`` for its class of
compiled packages."""
