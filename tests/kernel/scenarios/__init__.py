"""Ground-truth scenario catalog (see catalog.py): Docker hosts, flows, and the kernel's recorded answers."""
