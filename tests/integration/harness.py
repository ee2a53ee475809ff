# Start-up shared by the python tests that run their own
# daemons over test_daemon.py's helpers (test_hostile.py, test_faults.py,
# test_http.py, tests/soak/soak.py).
import os
import subprocess

import test_daemon as td


def skip_reason():
    """Why the test cannot run here (no corpus, programs not built), or None."""
    if not os.path.isfile(td.CORPUS):
        return "shared corpus not found at %s" % td.CORPUS
    for p in (td.KSD, td.INDEXER):
        if not os.access(p, os.X_OK):
            return "%s not built" % p
    return None


def build_index(path):
    """Indexes the shared corpus into path; a TAP check. True if it worked."""
    p = subprocess.run([td.INDEXER, "build", "-q", "-i", td.CORPUS, "-o", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=600)
    if not td.T.eq(p.returncode, 0, "index of the shared corpus built"):
        td.T.note(p.stdout.decode("utf-8", "replace")[-2000:])
        return False
    return True
