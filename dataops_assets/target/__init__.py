"""``target-dataops``: the Singer -> lake path as a standalone Singer target (stdin in, STATE out)."""
