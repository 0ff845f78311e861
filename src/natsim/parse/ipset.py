"""Read ``ipset save`` output (also what ``ipset restore`` reads): ``create`` and ``add`` lines."""

from __future__ import annotations

from natsim.errors import InputError
from natsim.model.location import Location
from natsim.model.ruleset import IpSet, IpSets, SetEntry
from natsim.parse.lexer import UnterminatedQuote, split_located

_CREATE = ("create", "-N", "-create")
_ADD = ("add", "-A", "-add")


def parse_ipset_text(text: str, filename: str = "<ipset>") -> IpSets:
    """The sets of an ``ipset save`` dump; raises InputError at the first bad line."""
    sets: dict[str, tuple[IpSet, list[SetEntry]]] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#") or line == "COMMIT":
            continue
        try:
            words = split_located(raw)
        except UnterminatedQuote as err:
            raise InputError(filename, lineno, err.column, "found an unterminated '\"'",
                             "expected a closing '\"'", raw) from None
        head = words[0].text
        location = Location(filename, lineno, words[0].column)

        def bad(i: int, expected: str) -> InputError:
            col = words[i].column if i < len(words) else len(raw.rstrip()) + 1
            found = f"found '{words[i].text}'" if i < len(words) else "found end of line"
            return InputError(filename, lineno, col, found, expected, raw)

        if head in _CREATE:
            if len(words) < 3:
                raise bad(len(words), "expected create NAME TYPE [OPTIONS]")
            name = words[1].text
            if name in sets:
                raise bad(1, f"expected a new set name ({name} was created at line "
                             f"{sets[name][0].location.line})")
            opts = tuple(w.text for w in words[3:])
            sets[name] = (IpSet(name, words[2].text, opts, location=location), [])
        elif head in _ADD:
            if len(words) < 3:
                raise bad(len(words), "expected add NAME ELEMENT [OPTIONS]")
            name = words[1].text
            if name not in sets:
                raise bad(1, "expected the name of a set created above")
            sets[name][1].append(SetEntry(words[2].text, tuple(w.text for w in words[3:]), location))
        else:
            raise bad(0, "expected 'create' or 'add' (ipset save output)")
    out = tuple(IpSet(s.name, s.type, s.options, tuple(entries), s.location) for s, entries in sets.values())
    return IpSets(out, filename)
