"""Textual stylesheets (.tcss), one per screen plus base.tcss."""

from pathlib import Path

STYLES_DIR = Path(__file__).parent


def stylesheets() -> list[Path]:
    """base.tcss first, then every screen's sheet."""
    sheets = sorted(STYLES_DIR.glob("*.tcss"))
    return sorted(sheets, key=lambda p: (p.name != "base.tcss", p.name))
