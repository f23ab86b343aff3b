"""The `cotrl` command line: `main` dispatches to train, eval, export and gen."""
