"""``natsim diff``: what changed between two rulesets, in rules (structural) and in reachability (semantic).

:mod:`natsim.diff.structural` compares models; :mod:`natsim.diff.semantic` simulates the exposure
matrix's flows on both sides; :mod:`natsim.diff.sides` reads an operand (file, snapshot, live);
:mod:`natsim.diff.report` renders the result.  Decision 0092 records identity and exit status.
"""
