"""The live ipsets (``ipset save``), which ``-m set`` rules need and iptables-save does not show."""

from __future__ import annotations

from natsim.live.process import run_tool, tool_available
from natsim.model.ruleset import IpSets


def read_live_ipsets(netns: str | None = None) -> tuple[IpSets | None, tuple[str, ...]]:
    """The sets of the namespace, or None (contents unknown) with one note saying why."""
    if not tool_available("ipset-save"):
        return None, ("ipset is not installed: the contents of sets used by -m set are unknown",)
    out = run_tool("ipset-save", netns)
    if out.returncode != 0:
        why = out.stderr.strip().splitlines()[-1:] or [f"exit {out.returncode}"]
        return None, (f"ipset save failed ({why[0]}): the contents of sets used by -m set are unknown",)
    from natsim.parse import parse_ipset_text  # the parser engineer's ipset reader

    source = f"live:ipset{':' + netns if netns else ''}"
    return parse_ipset_text(out.stdout, source), ()
