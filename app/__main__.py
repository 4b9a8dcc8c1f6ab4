"""`python -m app` is the `portside` command."""

import sys

from app.cli import main

sys.exit(main())
