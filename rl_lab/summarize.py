"""``python -m rl_lab.summarize DIR [--out OUTDIR] [--threshold X]``: summarise a sweep of runs.

Only the command line; the code is in :mod:`rl_lab.reports` (what is written:
:mod:`rl_lab.reports.summary`). Import from there, never this module: importing it would
replace the Python API's ``rl_lab.summarize`` function with the module (Python sets a package
attribute for every submodule it imports).
"""

import sys

from rl_lab.reports.cli import main

if __name__ == "__main__":
    sys.exit(main())
