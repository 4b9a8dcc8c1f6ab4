"""Subcommands: one module each, discovered by app.cli (see its docstring)."""
