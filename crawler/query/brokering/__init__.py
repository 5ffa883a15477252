"""Brokering: who links to whom (``network``), which offers meet which needs (``matching``), and the
models built from the store once per index generation (``models``). Part of the read side: imports
``hubnet.vocab`` and ``hubnet.crawler.store`` only.
"""
