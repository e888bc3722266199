"""FHIRPath through fhirpathpy, with the strictness a rule pack needs at load.

fhirpathpy's parser recovers from syntax errors silently and reports unknown functions only
when run, so a pack is checked here: a strict parse (the library's own grammar, errors raised,
the whole text consumed), every %variable known, and one trial run over an empty context.
"""

from __future__ import annotations

import re
from typing import Any

from antlr4 import CommonTokenStream, InputStream, Token
from antlr4.error.ErrorListener import ErrorListener
from fhirpathpy import compile as fp_compile
from fhirpathpy.parser.generated.FHIRPathLexer import FHIRPathLexer
from fhirpathpy.parser.generated.FHIRPathParser import FHIRPathParser

from gateway.rules.context import VARIABLES, empty_environment
from gateway.rules.model import Compiled

_VAR = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*)")
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'")


class ExpressionError(ValueError):
    pass


class _Raise(ErrorListener):
    def syntaxError(self, recognizer, offendingSymbol, line, column, msg, e):
        raise ExpressionError(f"syntax error at column {column + 1}: {msg}")


def _strict_parse(expression: str) -> None:
    lexer = FHIRPathLexer(InputStream(expression))
    lexer.removeErrorListeners()
    lexer.addErrorListener(_Raise())
    tokens = CommonTokenStream(lexer)
    parser = FHIRPathParser(tokens)
    parser.removeErrorListeners()
    parser.addErrorListener(_Raise())
    parser.expression()
    if tokens.LA(1) != Token.EOF:
        raise ExpressionError(f"unexpected text after column {tokens.LT(1).start}: the expression ends early")


def variables_of(expression: str) -> frozenset[str]:
    """The %variables an expression reads (string literals aside)."""
    return frozenset(_VAR.findall(_STRING.sub("''", expression)))


def compile_expression(expression: str) -> Compiled:
    """Compile once; raises ExpressionError with a message fit for the pack author."""
    try:
        _strict_parse(expression)
    except ExpressionError:
        raise
    except Exception as exc:  # the lexer raises its own kinds on a bad character
        raise ExpressionError(f"syntax error: {exc}") from None
    unknown = sorted(variables_of(expression) - VARIABLES)
    if unknown:
        raise ExpressionError(f"unknown variable %{unknown[0]} (known: {', '.join(sorted(VARIABLES))})")
    compiled: Compiled = fp_compile(expression, options={"returnRawData": True})
    try:
        compiled({"resourceType": "Bundle", "entry": []}, empty_environment())
    except Exception as exc:
        raise ExpressionError(f"does not evaluate: {exc}") from None
    return compiled


def truthy(result: list[Any]) -> bool:
    """A check passes when it yields exactly true; empty or false fails (FHIRPath invariants)."""
    return len(result) == 1 and result[0] is True
