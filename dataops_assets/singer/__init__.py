"""The Singer protocol: typed messages, the tap process, catalogs and selection."""
