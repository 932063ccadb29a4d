"""Test-only helpers that also run outside pytest (in subprocesses and SLURM jobs)."""
