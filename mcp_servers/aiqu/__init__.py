"""aiqu: the GPU job scheduler skill (local subprocess backend, Slurm)."""
