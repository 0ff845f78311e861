"""Chains no built-in chain reaches: the sign of a partial dump.

A file such as kube-proxy's ``iptables-restore`` input holds user chains whose jumps
live elsewhere; simulated alone, none of their rules ever run and every answer is
"nothing applied".  Saying which chains were never entered tells the user why.
"""

from __future__ import annotations

from natsim.model.ruleset import Ruleset, Table
from natsim.model.targets import Jump

#: At most this many chain names in one note; the rest are counted.
SHOWN = 5


def unreached_chains(table: Table) -> list[str]:
    """User chains with rules that no rule reachable from a built-in chain jumps or goes to."""
    seen: set[str] = set()
    todo = [c.name for c in table.chains if c.builtin]
    while todo:
        name = todo.pop()
        chain = table.chain(name)
        if name in seen or chain is None:
            continue
        seen.add(name)
        todo.extend(r.target.chain for r in chain.rules if isinstance(r.target, Jump))
    return [c.name for c in table.chains if not c.builtin and c.rules and c.name not in seen]


def entry_chains(table: Table, unreached: list[str]) -> list[str]:
    """Of ``unreached``, those no rule of the table jumps to: where the missing jumps would lead."""
    targets = {r.target.chain for c in table.chains for r in c.rules if isinstance(r.target, Jump)}
    return [name for name in unreached if name not in targets]


def partial_notes(rulesets: dict[int, Ruleset]) -> tuple[str, ...]:
    """One note per table with unreached chains (``iptables``/``ip6tables`` told apart when both were given)."""
    notes: list[str] = []
    for family, rs in sorted(rulesets.items()):
        tool = "ip6tables" if family == 6 else "iptables"
        for table in rs.tables:
            unreached = unreached_chains(table)
            if not unreached:
                continue
            entries = entry_chains(table, unreached) or unreached  # a cycle of chains has no entry
            names = entries[:SHOWN]
            shown = ", ".join(names)
            rest = len(unreached) - len(names)
            if rest:
                shown += f" (and {rest} chains they lead to)" if len(entries) <= SHOWN else f" and {rest} more"
            empty = not any(c.rules for c in table.chains if c.builtin)
            why = (": this looks like a partial dump (the jumps into them are not in it), so their rules never "
                   "run in this simulation" if empty else ", so their rules never run (a partial dump, or "
                   "leftover chains)")
            notes.append(f"{tool} {table.name}: chains {shown} are not reached from any built-in chain{why}")
    return tuple(notes)
