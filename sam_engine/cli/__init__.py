"""The ``fleetsam`` command line: ``main`` (entry point, fault boundary), ``commands`` (the parser),
``exit_codes``, and one module per group of subcommands."""

DEBUG_FLAGS = ("--debug", "-v", "--verbose")  # the traceback on a fault; main reads them before loading the parser
