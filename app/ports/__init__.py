"""Pure port analysis, allocation and remap planning (no I/O)."""
