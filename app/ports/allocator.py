"""Free host ports for remaps (pure).

A port is free when it lies in the configured range, is not reserved, is not
used by any binding of any source in any state (live, stopped, declared,
swarm, host, registry), and has not been handed out earlier in the same plan.
Ranges (`8000-8005`) move as a whole: the allocator finds a block of
consecutive free ports.

Preferences: "lowest-free" takes the lowest free block; "same-last-digits"
first tries ports that end like the old one (8080 -> 8180, 8280, ...; then the
same last digit), then falls back to lowest-free.
"""

from __future__ import annotations

from collections.abc import Iterable

from portside.app.models import PortBinding


class NoFreePort(Exception):
    """The range has no free block of the requested size."""


class Allocator:
    def __init__(
        self,
        bindings: Iterable[PortBinding],
        port_range: tuple[int, int] = (8000, 9000),
        reserved: Iterable[int] = (),
        preference: str = "lowest-free",
    ) -> None:
        self.start, self.end = port_range
        self.preference = preference
        self.reserved = set(reserved)
        self.used: set[int] = set()
        for b in bindings:
            self.used.update(range(b.port, b.last_port + 1))
        self.given: set[int] = set()

    # ----------------------------------------------------------------- queries

    def why_not(self, port: int, count: int = 1) -> str | None:
        """None when `port`..`port+count-1` may be handed out, else the reason in a few words."""
        last = port + count - 1
        if port < self.start or last > self.end:
            return f"outside the range {self.start}-{self.end}"
        for p in range(port, last + 1):
            if p in self.reserved:
                return f"{p} is reserved"
            if p in self.used:
                return f"{p} is in use"
            if p in self.given:
                return f"{p} is already taken by this plan"
        return None

    def is_free(self, port: int, count: int = 1) -> bool:
        return self.why_not(port, count) is None

    # ------------------------------------------------------------------ choose

    def candidates(self, want: int | None, count: int) -> Iterable[int]:
        lo, hi = self.start, self.end - count + 1
        if self.preference == "same-last-digits" and want is not None:
            for modulus in (1000, 100, 10):
                if modulus > hi - lo + 1 and modulus != 10:
                    continue
                first = lo + ((want - lo) % modulus)
                yield from range(first, hi + 1, modulus)
        yield from range(lo, hi + 1)

    def allocate(self, want: int | None = None, count: int = 1) -> int:
        """First port of a free block of `count` ports; remembered so it is never given twice."""
        p = self.peek(want, count)
        self.take(p, count)
        return p

    def peek(self, want: int | None = None, count: int = 1) -> int:
        """The port `allocate` would give, without handing it out (a suggestion to show)."""
        for p in self.candidates(want, count):
            if self.is_free(p, count):
                return p
        raise NoFreePort(
            f"no {'block of ' + str(count) + ' free ports' if count > 1 else 'free port'} "
            f"in {self.start}-{self.end}; widen port_range or free some ports"
        )

    def take(self, port: int, count: int = 1) -> None:
        """Mark a block as handed out (a user's own choice, validated with `why_not`)."""
        self.given.update(range(port, port + count))
