"""Projections and the machinery that keeps them up to date."""
