"""Rapport: customer engagement and experience management beside the CRM you already have."""

__version__ = "0.1.0"
