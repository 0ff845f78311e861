"""The parser's fast path (decision 0026) gives exactly what the general path gives."""

from __future__ import annotations

import dataclasses
import gc
from pathlib import Path

import pytest

from natsim.errors import InputError
from natsim.generate import docker_host, kube_proxy
from natsim.model.construct import fast_new
from natsim.model.location import Location
from natsim.model.matches import Tcp
from natsim.model.ruleset import Rule
from natsim.model.targets import Drop
from natsim.model.values import Neg, PortRange
from natsim.parse import compiled, parse_text, reader

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "corpus"


@pytest.mark.parametrize("cls, args", [
    (Rule, (None, None, None, None, Neg("tcp"), None, (), Drop(), None, Location("f", 3, 1), "-A X -j DROP")),
    (Location, ("f", 7, 2)),
    (Neg, (PortRange(1, 2), True)),
    (Tcp, (None, Neg(PortRange(80, 80)), None, None)),
])
def test_fast_constructor_makes_the_same_frozen_object(cls, args):
    new = fast_new(cls)
    assert new is not cls  # the fast form is available on CPython
    made, reference = new(*args), cls(*args)
    assert type(made) is cls and made == reference and hash(made) == hash(reference)
    assert repr(made) == repr(reference)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(made, dataclasses.fields(cls)[0].name, None)
    assert dataclasses.replace(made) == reference


def test_fast_constructor_falls_back_for_classes_it_cannot_fill():
    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        x: int

        def __post_init__(self) -> None:
            raise ValueError("checked")

    assert fast_new(Checked) is Checked


def _dump(text: str) -> list[object]:
    parsed = parse_text(text, "f")
    out: list[object] = [parsed.ruleset, parsed.format]
    for table in parsed.ruleset.tables:
        for chain in table.chains:
            out += [(r.location, r.text) for r in chain.rules]
    return out


def _texts() -> list[str]:
    texts = [p.read_text() for p in sorted(CORPUS.iterdir()) if p.suffix in (".rules", ".txt")]
    return texts + [docker_host(300), kube_proxy(60)]


def _dump_all() -> list[object]:
    out: list[object] = []
    for text in _texts():
        try:
            out.append(_dump(text))
        except InputError as err:
            out.append(str(err))
    return out


def test_compiled_builders_equal_the_general_path(monkeypatch):
    fast = _dump_all()
    monkeypatch.setattr(reader, "bind", lambda recipe, builder, words: None)
    monkeypatch.setattr("natsim.parse.rules.maker", lambda recipe, builder: None)
    slow = _dump_all()
    assert fast == slow
    assert sum(isinstance(d, list) for d in fast) > 40


def test_a_compiled_shape_leaves_comma_lists_and_errors_to_the_general_path():
    head = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.1/32 -p tcp -m tcp --dport 22 -j DROP\n"
    parsed = parse_text(head + "-A INPUT -s 10.0.0.2,10.0.0.3 -p tcp -m tcp --dport 23 -j DROP\nCOMMIT\n")
    rules = parsed.ruleset.chain("filter", "INPUT").rules
    assert [str(r.source.value) for r in rules] == ["10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32"]
    assert [r.location.line for r in rules] == [3, 4, 4]
    with pytest.raises(InputError) as info:
        parse_text(head + "-A INPUT -s 10.0.0.2 -p tcp -m tcp --dport 99999 -j DROP\nCOMMIT\n", "f")
    assert (info.value.line, info.value.column) == (4, 44)
    with pytest.raises(InputError) as info:
        parse_text(head + "-A INPUT -s 10.0.0.999 -p tcp -m tcp --dport 1 -j DROP\nCOMMIT\n", "f")
    assert (info.value.line, info.value.column) == (4, 13)


def test_a_flag_never_seen_does_not_reuse_a_cached_shape():
    text = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j DROP\n-A -NEWFLAG -j DROP\nCOMMIT\n"
    with pytest.raises(InputError) as info:
        parse_text(text, "f")
    assert info.value.line == 4 and "-NEWFLAG" in str(info.value)


@pytest.mark.parametrize("line, column", [('"" -A INPUT -j DROP', 1), ('-A INPUT "" -j DROP', 10), ('-A "" -j DROP', 4)])
def test_an_empty_quoted_word_is_a_located_error(line, column):
    with pytest.raises(InputError) as info:
        parse_text(f"*filter\n:INPUT ACCEPT [0:0]\n{line}\nCOMMIT\n", "f")
    assert (info.value.line, info.value.column) == (3, column)


def test_the_collector_is_paused_only_while_parsing():
    assert gc.isenabled()
    parse_text(docker_host(10))
    assert gc.isenabled()
    with pytest.raises(InputError):
        parse_text("*filter\n-A\n", "f")
    assert gc.isenabled()
    gc.disable()
    try:
        parse_text(docker_host(10))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_compiled_source_is_straight_line_code():
    parsed = parse_text(docker_host(3))
    assert parsed.ruleset.rule_count() > 5
    sources = [compiled.source(entry[1]) for entry in reader._LINES.values()
               if entry.__class__ is tuple and entry[1] is not None]
    assert any(s and "new_rule(" in s and "for " not in s for s in sources)
