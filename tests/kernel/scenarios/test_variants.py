"""natsim against the kernel on random variations of the catalog's hosts (see differential.py).

The recorded catalog checks hand-picked cases; this checks a fixed-seed sample of hosts nobody
picked: user rules in DOCKER-USER/INPUT/FORWARD/OUTPUT/raw, changed policies, a removed rule,
toggled br_netfilter, proxy, hairpin, route_localnet and rp_filter.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from tests.kernel.scenarios.catalog import catalog
from tests.kernel.scenarios.differential import disagreements, mutations, variant
from tests.kernel.scenarios.measure import measure

SEED, VARIANTS = 2, 6


def sample() -> list:
    rng = random.Random(SEED)
    bases = list(catalog())
    variants = [variant(rng.choice(bases), rng) for _ in range(VARIANTS)]
    return [replace(v, name=f"{v.name}#{i}") for i, v in enumerate(variants)]


def test_every_mutation_changes_the_host():
    rng = random.Random(7)
    for base in catalog():
        for m in mutations(base.spec, rng):
            assert m.apply(base.spec) != base.spec, m.what


def test_variant_names_are_unique_so_measurements_cannot_swap_hosts():
    """measure() keys its hosts by scenario name: two variants of one base once shared a name
    (base+depth) and one's kernel answers were reported for the other (a DNAT of the second host
    "answering" in the first). Names now carry a hash of the mutations and the sample index."""
    names = [v.name for v in sample()]
    assert len(set(names)) == len(names)
    base = catalog()[0]
    with pytest.raises(ValueError, match="unique"):
        measure([base, base])


@pytest.mark.kernel
def test_natsim_agrees_with_the_kernel_on_random_variants():
    problems = disagreements(sample())
    assert not problems, "\n".join(problems)
