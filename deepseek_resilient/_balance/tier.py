"""``Tier``: several providers serving the same model, balanced; it stands where a provider
stands in ``providers=[...]``."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from .._core.errors import ConfigurationError
from .._providers.base import Provider
from .hedge import Hedge
from .strategies import STRATEGIES, Strategy

__all__ = ["Tier", "flatten"]


class Tier:
    """Providers that serve the same model (several keys, hosts or regions), balanced.

    ``Tier([DeepSeek(api_key=k1), DeepSeek(api_key=k2, name="ds2")], strategy=...)`` stands
    anywhere a provider does: ``providers=[Tier(...), Tier(...), LlamaCpp()]``.

    - ``strategy``: ``"least_latency"`` (the default: power of two choices on peak-EWMA
      latency), ``"least_busy"`` (power of two choices on requests in flight),
      ``"round_robin"`` or ``"weighted"`` (smooth weighted round-robin, as nginx).
    - ``weights``: one positive number per member, with ``strategy="weighted"`` only (None:
      equal weights).
    - ``hedge``: a ``Hedge`` for this tier (overrides the client's ``hedge=``).
    - ``name``: how ``route.tier``, ``client.pipeline`` and events name it (default
      ``tier1``, ``tier2``... by position).
    - ``seed``: seeds the random draws of the power-of-two-choices strategies (tests).

    Each member keeps its own retries, breaker and rate limit. A member whose breaker is open,
    or whose rate limit cannot admit at once while another member can, is skipped; a failed
    member hands the request to another member (a failover), then to the next tier.
    """

    def __init__(
        self,
        providers: Iterable[Provider],
        strategy: Strategy = "least_latency",
        weights: Sequence[float] | None = None,
        hedge: Hedge | None = None,
        *,
        name: str | None = None,
        seed: int | None = None,
    ) -> None:
        if isinstance(providers, (str, bytes, Provider)) or not hasattr(providers, "__iter__"):
            raise ConfigurationError("Tier takes a list of providers: Tier([p1, p2])")
        members = list(providers)
        if not members:
            raise ConfigurationError("a Tier needs at least one provider")
        for p in members:
            if isinstance(p, Tier):
                raise ConfigurationError("a Tier cannot contain a Tier: list its providers")
            if not isinstance(p, Provider):
                raise ConfigurationError(f"Tier members must be providers, got {type(p).__name__}")
        if strategy not in STRATEGIES:
            raise ConfigurationError(
                f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}"
            )
        self.providers: tuple[Provider, ...] = tuple(members)
        self.strategy: Strategy = strategy
        self.weights = _weights(weights, strategy, len(members))
        if hedge is not None and not isinstance(hedge, Hedge):
            raise ConfigurationError(f"hedge must be a Hedge(...) or None, got {hedge!r}")
        self.hedge = hedge
        if name is not None and (not isinstance(name, str) or not name):
            raise ConfigurationError(f"Tier name must be a non-empty string, got {name!r}")
        self.name = name
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigurationError(f"seed must be an int or None, got {seed!r}")
        self.seed = seed

    def __repr__(self) -> str:
        names = ", ".join(p.name for p in self.providers)
        extra = f", weights={list(self.weights)}" if self.weights else ""
        return f"Tier([{names}], strategy={self.strategy!r}{extra})"


def _weights(
    weights: Sequence[float] | None, strategy: Strategy, size: int
) -> tuple[float, ...] | None:
    if weights is None:
        return None
    if strategy != "weighted":
        raise ConfigurationError(f"weights apply to strategy='weighted' only, not {strategy!r}")
    if isinstance(weights, (str, bytes)) or not hasattr(weights, "__iter__"):
        raise ConfigurationError("weights must be a list of numbers, one per provider")
    values = list(weights)
    if len(values) != size:
        raise ConfigurationError(f"{len(values)} weights for {size} providers: give one each")
    for w in values:
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not math.isfinite(w) or w <= 0:
            raise ConfigurationError(f"weights must be positive numbers, got {w!r}")
    return tuple(float(w) for w in values)


def flatten(
    entries: Sequence[Provider | Tier],
) -> tuple[list[Provider], list[tuple[Tier | None, list[int]]]]:
    """The providers in order (a tier's members in place of the tier) and the groups the
    router walks: ``(tier or None, positions of its providers)``."""
    providers: list[Provider] = []
    groups: list[tuple[Tier | None, list[int]]] = []
    for entry in entries:
        if isinstance(entry, Tier):
            start = len(providers)
            providers.extend(entry.providers)
            groups.append((entry, list(range(start, len(providers)))))
        elif isinstance(entry, Provider):
            groups.append((None, [len(providers)]))
            providers.append(entry)
        else:
            raise ConfigurationError("providers must be Provider or Tier instances")
    return providers, groups
