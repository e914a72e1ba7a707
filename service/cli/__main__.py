"""``python -m service.cli``: the ``ranklet`` command."""

from service.cli.main import main

main()
