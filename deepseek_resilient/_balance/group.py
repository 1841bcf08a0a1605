"""What the router walks: groups of providers in priority order (a tier, or one provider),
each with its balancer and hedging state, and the order one request tries them in."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .._core.errors import ProviderError
from .hedge import Hedge, HedgeBudget, QuantileWindow
from .strategies import Balancer, InFlightStore, balancer_for
from .tier import Tier

__all__ = ["Group", "RoutePlan", "build_groups", "request_order"]


@dataclass(repr=False, eq=False)
class Group:
    """A tier (``balancer`` set) or a lone provider, and the slots (positions in the
    client's flat list of providers) of its members."""

    name: str | None
    slots: list[int]
    balancer: Balancer | None = None
    hedge: Hedge | None = None
    budget: HedgeBudget | None = None
    #: Observed time to the answer (first token of a stream; whole answer otherwise) of
    #: this group's members, keyed by ``request.stream``: for a percentile ``after``.
    windows: dict[bool, QuantileWindow] = field(default_factory=dict)
    #: ``hedge`` is the tier's own (else the client's).
    own_hedge: bool = False

    def member(self, slot: int) -> int:
        """The position in the tier of the provider at ``slot``."""
        return slot - self.slots[0]

    def hedge_after(self, stream: bool) -> float | None:
        """Seconds before this group's attempt is hedged; None: not hedged (no hedge, or a
        percentile with too few samples yet)."""
        hedge = self.hedge
        if hedge is None:
            return None
        if isinstance(hedge.after, str):
            return self.windows[stream].value()
        return float(hedge.after)

    def observed(self, stream: bool, latency: float) -> None:
        window = self.windows.get(stream)
        if window is not None:
            window.add(latency)

    def describe(self, names: Sequence[str]) -> str | None:
        """``tier1(a|b|c: least_latency, hedge(...))`` (None: a lone provider)."""
        if self.balancer is None:
            return None
        parts: list[str] = [self.balancer.name]
        if self.own_hedge and self.hedge is not None:
            parts.append(self.hedge.describe())
        members = "|".join(names[i] for i in self.slots)
        return f"{self.name}({members}: {', '.join(parts)})"


#: Makes the shared in-flight counters of a tier: ``(tier name, member names)``.
InFlightFactory = Callable[[str, list[str]], InFlightStore]


def build_groups(
    specs: Sequence[tuple[Tier | None, list[int]]],
    hedge: Hedge | None,
    names: Sequence[str] = (),
    in_flight: InFlightFactory | None = None,
) -> list[Group]:
    """The runtime groups of ``flatten``'s specs; ``hedge``: the client's (one budget for
    every group without a hedge of its own); ``in_flight``: shared counters for the
    ``least_busy`` tiers (``names``: every provider's name, by slot)."""
    shared = HedgeBudget(hedge.max_extra) if hedge is not None else None
    groups: list[Group] = []
    tiers = 0
    for tier, slots in specs:
        if tier is None:
            group = Group(None, slots, hedge=hedge, budget=shared)
        else:
            tiers += 1
            rng = random.Random(tier.seed)
            balancer = balancer_for(tier.strategy, len(slots), tier.weights, rng)
            own = tier.hedge
            group = Group(
                tier.name or f"tier{tiers}",
                slots,
                balancer,
                hedge=own or hedge,
                budget=HedgeBudget(own.max_extra) if own is not None else shared,
                own_hedge=own is not None,
            )
            if in_flight is not None and tier.strategy == "least_busy" and group.name:
                balancer.shared = in_flight(group.name, [names[i] for i in slots])
        q = group.hedge.quantile if group.hedge is not None else None
        if q is not None:
            group.windows = {True: QuantileWindow(q), False: QuantileWindow(q)}
        groups.append(group)
    return groups


@dataclass(repr=False, eq=False)
class RoutePlan:
    """One request's way through the providers: ``order`` holds ``(slot, group index)``
    in the order tried; ``refusals`` each slot's pre-check (None: may be tried);
    ``more_after`` whether a step after each could still answer; ``tried`` the slots a
    hedge already tried."""

    order: list[tuple[int, int]]
    refusals: Sequence[ProviderError | None]
    more_after: list[bool]
    tried: set[int] = field(default_factory=set)

    def sibling_after(self, step: int) -> bool:
        """Whether a member of the same tier after ``step`` could still answer."""
        group = self.order[step][1]
        return any(g == group and self.refusals[i] is None for i, g in self.order[step + 1 :])

    def next_candidate(self, step: int) -> int | None:
        """The step after ``step`` that could answer (where a hedge goes), or None."""
        for k in range(step + 1, len(self.order)):
            slot = self.order[k][0]
            if self.refusals[slot] is None and slot not in self.tried:
                return k
        return None

    def following(self, step: int) -> int | None:
        """The slot tried after ``step`` (for the failover event), or None."""
        return next((i for i, _ in self.order[step + 1 :] if i not in self.tried), None)


def request_order(
    groups: Sequence[Group], eligible: Sequence[bool], now: float
) -> list[tuple[int, int]]:
    """One request's order: ``(slot, group index)`` for every provider, group by group in
    priority order; within a tier the balancer's pick first, then the members that could
    still answer, then the ones refused (recorded as skipped)."""
    out: list[tuple[int, int]] = []
    for g, group in enumerate(groups):
        if group.balancer is None:
            out.extend((slot, g) for slot in group.slots)
            continue
        base = group.slots[0]
        ok = [s - base for s in group.slots if eligible[s]]
        ordered = group.balancer.order(ok, now)
        out.extend((base + m, g) for m in ordered)
        out.extend((s, g) for s in group.slots if not eligible[s])
    return out
