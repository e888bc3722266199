"""Handover rules: declarative packs (schemas/rules/), checked on every event (docs/RULES.md)."""
