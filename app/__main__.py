"""`python -m app` is the `portside` command."""

import sys

from portside.app.cli import main

sys.exit(main())
