#!/bin/sh
# Finished-job history for the aiqu skill on a cluster without slurmdbd that
# uses jobcomp/script (Slurm takes one JobCompType, so a site with its own
# script cannot also write jobcomp/filetxt). Install on the controller and set
#
#   JobCompType=jobcomp/script
#   JobCompLoc=/etc/slurm/aiqu-jobcomp.sh     (or call it from your own script)
#
# slurmctld runs it as SlurmUser once per finished job, with the job in its
# environment. It appends one line in jobcomp/filetxt's key=value shape, times
# as unix seconds (no time zone to guess), the job name last (it may hold
# spaces). Point MLOPS_SLURM_JOBCOMP_LOG at the file where the skill sees it.
set -eu
log=/var/log/slurm/jobcomp-aiqu.txt
printf 'JobId=%s UserId=%s(%s) JobState=%s Partition=%s StartTime=%s EndTime=%s ExitCode=%s Name=%s\n' \
    "$JOBID" "${USERNAME:-}" "${UID:-}" "$JOBSTATE" "${PARTITION:-}" "${START:-0}" "${END:-0}" \
    "${EXITCODE:-0:0}" "${JOBNAME:-}" >>"$log"
