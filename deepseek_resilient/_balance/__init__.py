"""Load balancing within a tier (``Tier`` and its strategies) and hedged requests
(``Hedge``). See docs/load-balancing.md."""

from .hedge import Hedge
from .tier import Tier

__all__ = ["Hedge", "Tier"]
