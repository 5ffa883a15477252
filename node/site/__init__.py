"""A node that hosts many groups by path (issue 17): ``hubnet-node serve --site DIR``.

A hub keeps a *site folder*; each group in it is an ordinary single-group node
(its profile file and private state folder, served and edited by the same
blueprints as ``hubnet-node serve --profile``) mounted at ``/<slug>/``::

    DIR/site.json                        the public base URL, settings and each group's state
    DIR/log.jsonl                        every administrative action (who, what, when), appended
    DIR/.site/                           the site's own private state (the key signing invite forms)
    DIR/groups/<slug>/profile.jsonld     the group's profile: only the group edits it once it accepts
    DIR/groups/<slug>/.hubnet-node/      the group's password hash, session key, versions

``registry`` reads and writes site.json, ``drafts`` turns a hub's fields into a
draft profile (the same rules as the editor and ``hubnet-node validate``),
``importer`` reads a spreadsheet, ``app`` serves the site, ``cli`` is ``hubnet-node site``.
"""
