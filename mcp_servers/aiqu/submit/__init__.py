"""`python -m mcp_servers.aiqu.submit`: queue one job on the embedded local scheduler.

What `sbatch` is for Slurm, behind `mlops-agent submit` (the supervisor's CLI
may not import a skill, so it runs this as a process). The request arrives as
one JSON object on stdin; the answer leaves as one on stdout.

The job lands in the aiqu skill's own store (`<state>/aiqu/local.sqlite`),
so the agent's aiqu tools list, clone, requeue and cancel it like any other,
and it survives the service restarting (its process runs in a session of its
own). This process only queues: the service's own processes start the job
(the watch process runs the dispatcher), so it gets their environment's
`MLOPS_URL`, `MLOPS_WEBHOOK_SECRET` and `MLFLOW_TRACKING_URI`, plus its
identity (`MLOPS_JOB`, `MLOPS_ATTEMPT`, `MLOPS_LABELS`), like an agent-started
job; the rest of its environment is the submitter's, as `sbatch
--export=ALL` gives it.
"""
