"""Textual screens: views that render snapshots and ask for plans."""
