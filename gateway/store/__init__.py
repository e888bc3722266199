"""Durable state: the only package that speaks SQL."""
