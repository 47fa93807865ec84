"""Research protocols: each a package of config, protocol (its phases), analysis and report.

The shape every protocol follows is in :mod:`axionlab.protocols.base`; the runner that drives
one is :mod:`axionlab.protocols.runner`; the list of protocols is
:mod:`axionlab.protocols.catalog`. See docs/protocols.md for how a protocol is built.
"""
