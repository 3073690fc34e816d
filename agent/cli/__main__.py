"""`python -m agent.cli`: `mlops-agent` without its installed script."""

import sys

from agent.cli.main import main

sys.exit(main())
