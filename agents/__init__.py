"""Groundworld agents (see issue: agents)."""
