"""Taps installed from PyPI (or a path, or git), each in its own virtualenv.

Taps pin conflicting versions of singer-python, singer-sdk and requests, so none shares the project's
environment: a source with a ``pip_url`` gets ``.dataops/plugins/<source>/``, built on first use (or by
``dataops install``) and reused until its ``pip_url`` or the Python version changes.
"""
