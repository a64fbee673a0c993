"""Names a package exports but imports only when first used (PEP 562), so importing it stays light."""

from __future__ import annotations

import importlib


def lazy_attributes(namespace: dict, lazy: dict):
    """The ``__getattr__`` and ``__dir__`` of a package whose names in ``lazy`` load on first use.

    Parameters
    ----------
    namespace : dict
        The package's ``globals()``; a name, once loaded, is kept there.
    lazy : dict of str to str
        Public name -> the module that defines it.
    """

    def __getattr__(name):
        if name in lazy:
            value = getattr(importlib.import_module(lazy[name]), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")

    def __dir__():
        return sorted({*namespace, *lazy})

    return __getattr__, __dir__
