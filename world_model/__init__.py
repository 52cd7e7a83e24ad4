"""Groundworld world models (see issue: world model)."""
