"""The ``ranklet`` command, one module per command group."""
