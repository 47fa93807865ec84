"""Research protocols; importing this package registers every protocol in ``PROTOCOLS``."""

from axionlab.protocols.base import (
    PROTOCOLS,
    Protocol,
    Unit,
    execute,
    load_config,
    rebuild_report,
)

__all__ = ["PROTOCOLS", "Protocol", "Unit", "execute", "load_config", "rebuild_report"]

from axionlab.protocols import continual as continual
from axionlab.protocols import exp01 as exp01
from axionlab.protocols import exp02 as exp02
from axionlab.protocols import exp03 as exp03
from axionlab.protocols import exp04 as exp04
