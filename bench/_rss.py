"""Run a command, then print its peak RSS as the last line: ``{"rss_kb": N, "rc": N}``.

``RUSAGE_CHILDREN`` covers every descendant that was waited for; its maxrss is the
peak of the largest single process (for ansible: the controller).
"""

import json
import resource
import subprocess
import sys

rc = subprocess.call(sys.argv[1:], stdin=subprocess.DEVNULL)
sys.stdout.flush()
print(json.dumps({"rss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "rc": rc}), flush=True)
sys.exit(rc)
