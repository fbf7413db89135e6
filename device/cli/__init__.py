"""`ami`: the one command line; each module registers one group of subcommands."""
