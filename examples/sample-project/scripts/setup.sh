#!/bin/sh
# A post-create step: runs only when the policy allows it.
echo "setup ran at $(date -u +%H:%M:%S)" > .setup-done
