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


@pytest.mark.kernel
def test_natsim_agrees_with_the_kernel_on_random_variants():
    problems = disagreements(sample())
    assert not problems, "\n".join(problems)
