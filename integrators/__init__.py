"""Integrations: one module per kind, the integrator protocol (base.py), the catalog."""
