"""natsim's pytest plugin: test your firewall rules like code.

Registered through the ``pytest11`` entry point, so installing natsim is enough.  It gives:

* the ``natsim_network`` fixture: the rules (file, snapshot directory or ``live``) and topology
  files, loaded once per session.  Where they come from, first found wins:
  ``@pytest.mark.natsim("rules.txt", topology=["host.toml"])`` on the test or its module/class,
  the ``--natsim-rules`` / ``--natsim-topology`` options, the ``natsim_rules`` / ``natsim_topology``
  ini keys (paths relative to the ini file).
* the ``natsim`` fixture: the assertion functions bound to that network
  (``natsim.assert_reachable("outside", "host:443/tcp")``).
* the assertions themselves, importable from :mod:`natsim.testing`.

A failing assertion prints natsim's explanation and the packet's trace.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from natsim.testing import assertions as _a

if TYPE_CHECKING:  # pragma: no cover
    from natsim.explain.answer import Answer
    from natsim.explain.inputs import Inputs

_CACHE_KEY = pytest.StashKey[dict[tuple[str, tuple[str, ...]], "Inputs"]]()


def _register_hypothesis_profiles() -> None:
    """``--hypothesis-profile=deep``: long local runs of natsim's property suites (hypothesis optional)."""
    try:
        from hypothesis import HealthCheck, settings
        from hypothesis.errors import InvalidArgument
    except ImportError:  # the assertions and fixtures work without hypothesis
        return
    try:
        settings.get_profile("deep")
    except InvalidArgument:
        settings.register_profile("deep", max_examples=2000, deadline=None,
                                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


_register_hypothesis_profiles()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("natsim", "natsim: firewall reachability assertions")
    group.addoption("--natsim-rules", default=None, metavar="PATH",
                    help="rules file, snapshot directory or 'live' for the natsim_network fixture")
    group.addoption("--natsim-topology", action="append", default=[], metavar="PATH",
                    help="topology file (TOML or docker inspect JSON) for natsim_network; repeatable")
    parser.addini("natsim_rules", "rules file, snapshot directory or 'live' for natsim_network", default="")
    parser.addini("natsim_topology", "topology files for natsim_network", type="linelist", default=[])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "natsim(rules, topology=[...]): the rules and topology files natsim_network loads for this test"
    )
    config.stash[_CACHE_KEY] = {}


def _from_ini(config: pytest.Config, value: str) -> str:
    if value == "live" or Path(value).is_absolute() or config.inipath is None:
        return value
    return str(Path(config.inipath).parent / value)


def _source(request: pytest.FixtureRequest) -> tuple[str, tuple[str, ...]]:
    marker = request.node.get_closest_marker("natsim")
    if marker is not None and (marker.args or "rules" in marker.kwargs):
        rules = marker.kwargs.get("rules", marker.args[0] if marker.args else None)
        topology = marker.kwargs.get("topology", ())
        if isinstance(topology, (str, Path)):
            topology = (topology,)
        base = Path(str(request.node.fspath)).parent

        def here(p: Any) -> str:
            return str(p) if str(p) == "live" or Path(p).is_absolute() else str(base / p)

        return here(rules), tuple(here(t) for t in topology)
    config = request.config
    rules = config.getoption("natsim_rules")
    topology = tuple(config.getoption("natsim_topology") or ())
    if rules:
        return rules, topology
    rules = config.getini("natsim_rules")
    if rules:
        return _from_ini(config, rules), tuple(_from_ini(config, t) for t in config.getini("natsim_topology"))
    raise pytest.UsageError(
        "natsim_network needs rules: mark the test @pytest.mark.natsim('iptables.rules'), "
        "pass --natsim-rules PATH, or set natsim_rules in the ini file"
    )


@pytest.fixture
def natsim_network(request: pytest.FixtureRequest) -> "Inputs":
    """The loaded rules, ipsets and topology (cached for the session per rules/topology combination)."""
    key = _source(request)
    cache = request.config.stash[_CACHE_KEY]
    if key not in cache:
        from natsim.errors import NatsimError

        try:
            cache[key] = _a.load(key[0], key[1])
        except NatsimError as err:  # a located message, not a traceback
            raise pytest.UsageError(f"natsim_network could not load {key[0]}: {err.render()}") from None
    return cache[key]


@dataclass(frozen=True)
class Natsim:
    """The assertions of :mod:`natsim.testing.assertions`, bound to one network."""

    network: "Inputs"

    def __repr__(self) -> str:
        return f"Natsim({', '.join(self.network.files) or 'no files'})"

    def reachability(self, source: str, destination: str, via: str | None = None) -> "Answer":
        return _a.reachability(self.network, source, destination, via)

    def assert_reachable(self, source: str, destination: str, via: str | None = None) -> "Answer":
        __tracebackhide__ = True
        return _a.assert_reachable(self.network, source, destination, via)

    def assert_not_reachable(self, source: str, destination: str, via: str | None = None) -> "Answer":
        __tracebackhide__ = True
        return _a.assert_not_reachable(self.network, source, destination, via)

    def assert_only_published_ports_exposed(
        self, source: str = "outside", ports: Iterable[tuple[int, str]] | None = None
    ) -> None:
        __tracebackhide__ = True
        _a.assert_only_published_ports_exposed(self.network, source, ports)


@pytest.fixture
def natsim(natsim_network: "Inputs") -> Natsim:
    """``natsim.assert_reachable("outside", "host:443/tcp")`` and friends, on ``natsim_network``."""
    return Natsim(natsim_network)
