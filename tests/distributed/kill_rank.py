"""``ll4al ARGS`` under torchrun, with rank 1 killed (SIGKILL) when it starts round 2's fit:
a rank dying mid-run, for tests/test_distributed.py."""

import os
import signal
import sys

from ll4al.al.session import Session
from ll4al.cli import main

fit = Session.fit


def dying_fit(self, pool, round, desc="train"):
    if round == 2 and os.environ.get("RANK") == "1":
        os.kill(os.getpid(), signal.SIGKILL)
    return fit(self, pool, round, desc)


Session.fit = dying_fit
sys.exit(main(sys.argv[1:]))
