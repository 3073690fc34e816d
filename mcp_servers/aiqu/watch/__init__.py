"""`python -m mcp_servers.aiqu.watch`: the scheduler as the supervisor's watcher reads it.

The supervisor may not import a skill (docs/architecture.md): it reaches the
scheduler backends only as a process, like opencode reaches the tools. This
is that process. It stays up for the service's lifetime and answers one JSON
line per watch pass, so a pass costs one scheduler call (one `squeue --json`
on Slurm), not a Python start plus imports; it also runs the local queue's
dispatcher, so a job queued by `mlops-agent submit` starts as soon as GPUs
are free, before the agent's first turn ever starts the aiqu tools.
"""
