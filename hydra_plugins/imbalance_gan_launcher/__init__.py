"""The project's SLURM launcher under the name Hydra requires of launchers: a class defined in
the ``hydra_plugins`` namespace (``conf/hydra/launcher/slurm.yaml``). The launcher itself lives
in ``imbalance_gan/runtime/slurm.py``.

Hydra imports every module here at start-up: without the ``[cluster]`` extra (the submitit
plugin) this defines nothing instead of warning on every run."""

try:
    from imbalance_gan.runtime import slurm
except ImportError:  # no hydra-submitit-launcher: hydra/launcher=slurm is not available
    pass
else:

    class SlurmLauncher(slurm.SlurmLauncher):
        """``imbalance_gan.runtime.slurm.SlurmLauncher``."""
