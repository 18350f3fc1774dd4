"""``python -m tgstats_dagster.cli``: the same as ``tgstats``."""

import sys

from tgstats_dagster.cli.entry import main

sys.exit(main())
