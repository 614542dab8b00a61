#!/bin/sh
# Run inside the session: shows what the sandbox looks like from within,
# and leaves a file in the working directory for the host to read.
echo "$GREETING"
echo "user: $(id -un), cwd: $(pwd)"
grep -E '^(NoNewPrivs|CapEff)' /proc/self/status
echo "pids limit: $(cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max 2>/dev/null || echo unknown)"
date -u > report.txt
echo "wrote report.txt"
