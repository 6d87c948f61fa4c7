"""Training on users' MD: the data pipeline (``data``), the run config (``config``) and the loop
(``loop``). Imports the protein and model layers, never the runtime or the compiled plugin."""
