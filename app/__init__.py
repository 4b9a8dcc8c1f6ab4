"""portside core: domain models, sources, analysis, plans, state, health, CLI.

Nothing in this package imports textual except app/tui.py.
"""

__version__ = "0.1.0"
