"""natsim: why is this published port (not) reachable?

Text → grammar → model → engine → explanation.  The public entry points are
re-exported here as they land; see the README for the command line.
"""

__version__ = "0.1.0"
