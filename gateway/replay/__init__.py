"""Replaying scenario folders against a gateway and comparing what it produced with what was expected."""
