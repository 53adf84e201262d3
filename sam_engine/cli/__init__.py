"""The ``fleetsam`` command line: ``main`` (entry point, fault boundary), ``commands`` (the parser),
``exit_codes``, and one module per group of subcommands."""
