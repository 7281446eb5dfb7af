"""The ``motionlayers`` command: argument parsing only; the work happens in the library."""
