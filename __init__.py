"""hubnet: a federated linked-data network of community-group profiles.

One import namespace for the three parts of the repository (pyproject.toml maps the folders):
``hubnet.vocab`` (vocab/: the shared vocabulary), ``hubnet.node`` (node/: a group's own site) and
``hubnet.crawler`` (crawler/: the aggregator). This file and ``testing.py`` (``hubnet.testing``, the
loopback federation the tests, the demo and the bench serve sites from) sit at the repository root
because the root *is* the ``hubnet`` package: no extra top-level folder, and nothing else at the root
is a Python module.
"""

__version__ = "0.1.0"
