"""GPU jobs on Slurm over SSH: the GpuJob controller, its SSH sessions, batch scripts and batched polling."""
