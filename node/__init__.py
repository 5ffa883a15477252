"""hubnet-node: the group's side of hubnet.

A group keeps one small JSON-LD profile (``profile.jsonld``). This package
checks it (``hubnet-node validate``), writes a first one (``init``), serves it
to people and aggregators with an editor behind a password (``serve``), and
exports it as static files for any web host (``export``).

    >>> from hubnet.node.app import create_app
    >>> app = create_app({"PROFILE": "profile.jsonld"})
"""

from hubnet import __version__

__all__ = ["__version__"]
