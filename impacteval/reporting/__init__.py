"""Reports: executed notebooks and the command-line interface (``impacteval ...``)."""
