"""The `dozor` command line: the composition root that wires library, archiver and bot."""
