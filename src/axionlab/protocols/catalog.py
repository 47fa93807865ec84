"""Every protocol by the name a config's ``protocol:`` key gives it.

An explicit list, not registration by import side effect: reading this file tells which
protocols exist, and importing one protocol never imports the others.
"""

from __future__ import annotations

from typing import Any

from axionlab.protocols.base import Protocol
from axionlab.protocols.continual.protocol import Continual
from axionlab.protocols.exp01.protocol import Exp01
from axionlab.protocols.exp02.protocol import Exp02
from axionlab.protocols.exp03.protocol import Exp03
from axionlab.protocols.exp04.protocol import Exp04
from axionlab.registry import Registry

PROTOCOLS: Registry[type[Protocol[Any, Any]]] = Registry("protocol")
for _protocol in (Exp01, Exp02, Exp03, Exp04, Continual):
    PROTOCOLS.add(_protocol.name, _protocol)
