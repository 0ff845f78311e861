"""Offline audit: rule-level findings, the header-space partition and the exposure matrix.

Public API: :func:`natsim.audit.run.audit_ruleset` / ``audit_inputs`` (findings),
:func:`natsim.audit.flows.enumerate_flows` (one flow per zone and service) and
:func:`natsim.audit.matrix.build_matrix` (the exposure matrix).  Submodules are imported
on use so that ``import natsim.audit`` stays cheap.
"""
