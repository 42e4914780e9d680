"""Parse expressions with Python 3.12's f-string grammar (PEP 701) on any Python ≥ 3.10.

Julep evaluates expressions on Python 3.12, where a replacement field may hold
the f-string's own quote, a backslash, a comment or a line break
(``f'{x['k']}'``, ``f'{'\\n'.join(xs)}'``). Python 3.10 and 3.11 refuse those.
:func:`parse_expression` gives the syntax tree Python 3.12 would give:

- on 3.12+, or when the running Python parses the source as it is, ``ast.parse``;
- else each run of adjacent string literals holding an f-string is cut out of the
  source and replaced by a placeholder name; the f-string is scanned here (PEP 701
  rules: fields nest, strings inside fields may reuse the outer quote), each field's
  expression is parsed on its own (recursively), and the placeholder is replaced by
  the ``ast.JoinedStr`` built from the pieces.

Errors are ``SyntaxError`` with a message, as from ``ast.parse``.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass, field
from typing import Final

__all__ = ["parse_expression"]

_NATIVE: Final = sys.version_info >= (3, 12)
_PREFIXES: Final = frozenset({"", "r", "u", "b", "br", "rb", "f", "fr", "rf"})
_PLACEHOLDER: Final = "ǂjnbǂ"  # a valid identifier part that no task writes
_OPENERS: Final = {"(": ")", "[": "]", "{": "}"}


def parse_expression(source: str) -> ast.expr:
    """The syntax tree of the expression ``source``, as Python 3.12 parses it."""
    try:
        return ast.parse(source, mode="eval").body
    except SyntaxError:
        if _NATIVE:
            raise
    return _Rewriter(source).parse()


@dataclass
class _Field:
    expression: str
    conversion: int = -1
    spec: list[str | _Field] | None = None
    debug: str | None = None  # the text before "=" in a self-documenting field


@dataclass
class _Literal:
    prefix: str
    quote: str
    parts: list[str | _Field] = field(default_factory=list)


class _Scanner:
    """A cursor over source text with the string-literal scanners PEP 701 needs."""

    def __init__(self, text: str, pos: int = 0) -> None:
        self.text = text
        self.pos = pos

    def fail(self, message: str) -> SyntaxError:
        return SyntaxError(f"{message} (at offset {self.pos})")

    def peek(self, n: int = 1) -> str:
        return self.text[self.pos : self.pos + n]

    def literal_start(self) -> tuple[str, str] | None:
        """``(prefix, quote)`` if a string literal starts here, else ``None``."""
        text, pos = self.text, self.pos
        end = pos
        while end < len(text) and (text[end].isalnum() or text[end] == "_"):
            end += 1
        prefix = text[pos:end]
        if prefix.lower() not in _PREFIXES or end >= len(text) or text[end] not in "'\"":
            return None
        if pos > 0 and (text[pos - 1].isalnum() or text[pos - 1] == "_"):
            return None
        quote = text[end] * 3 if text.startswith(text[end] * 3, end) else text[end]
        return prefix, quote

    def read_literal(self, prefix: str, quote: str) -> _Literal:
        """Read one string literal (the cursor is on its prefix)."""
        self.pos += len(prefix) + len(quote)
        literal = _Literal(prefix.lower(), quote)
        if "f" in literal.prefix:
            literal.parts = self.read_fstring_body(literal, stop=quote)
            self.pos += len(quote)
            return literal
        start = self.pos
        while not self.text.startswith(quote, self.pos):
            if self.pos >= len(self.text):
                raise self.fail("unterminated string literal")
            self.pos += 2 if self.text[self.pos] == "\\" else 1
        literal.parts = [self.text[start : self.pos]]
        self.pos += len(quote)
        return literal

    def read_fstring_body(self, literal: _Literal, *, stop: str) -> list[str | _Field]:
        """Literal text and fields up to ``stop`` (the closing quote, or "}" of a spec)."""
        parts: list[str | _Field] = []
        chunk: list[str] = []
        raw = "r" in literal.prefix
        text = self.text
        while not text.startswith(stop, self.pos) and not text.startswith(literal.quote, self.pos):
            if self.pos >= len(text):
                raise self.fail("unterminated f-string")
            char = text[self.pos]
            if text.startswith("{{", self.pos) or text.startswith("}}", self.pos):
                chunk.append(char)
                self.pos += 2
            elif char == "{":
                self.pos += 1
                if chunk:
                    parts.append("".join(chunk))
                    chunk = []
                parts.append(self.read_field(literal))
            elif char == "}":
                raise self.fail("f-string: single '}' is not allowed")
            elif char == "\\":
                chunk.append(self.read_escape(raw))
            else:
                chunk.append(char)
                self.pos += 1
        if stop == "}" and not text.startswith(stop, self.pos):
            raise self.fail("f-string: expecting '}'")
        if chunk:
            parts.append("".join(chunk))
        return parts

    def read_escape(self, raw: bool) -> str:
        text, pos = self.text, self.pos
        nxt = text[pos + 1 : pos + 2]
        if not raw and nxt == "N" and text.startswith("{", pos + 2):
            end = text.find("}", pos)
            if end < 0:
                raise self.fail("unterminated \\N{…} escape")
            self.pos = end + 1
            return text[pos : end + 1]
        if nxt in ("{", "}", ""):
            self.pos += 1
            return "\\"
        self.pos += 2
        return text[pos : pos + 2]

    def read_field(self, literal: _Literal) -> _Field:
        """One replacement field (the cursor is just after its "{")."""
        start = self.pos
        expression = self.read_field_expression(literal)
        result = _Field(expression)
        text = self.text
        if text.startswith("=", self.pos):
            self.pos += 1
            while self.peek() in (" ", "\t", "\n", "\r"):
                self.pos += 1
            result.debug = text[start : self.pos]
        if text.startswith("!", self.pos):
            conversion = text[self.pos + 1 : self.pos + 2]
            if conversion not in ("r", "s", "a"):
                raise self.fail(f"f-string: invalid conversion character {conversion!r}")
            result.conversion = ord(conversion)
            self.pos += 2
        if text.startswith(":", self.pos):
            self.pos += 1
            result.spec = self.read_fstring_body(literal, stop="}")
        if not text.startswith("}", self.pos):
            raise self.fail("f-string: expecting '}'")
        self.pos += 1
        if result.debug is not None and result.conversion == -1 and result.spec is None:
            result.conversion = ord("r")
        return result

    def read_field_expression(self, literal: _Literal) -> str:
        """The expression of a field: up to a depth-0 "}", "!", ":" or "=" that ends it."""
        text = self.text
        start = self.pos
        closers: list[str] = []
        while self.pos < len(text):
            char = text[self.pos]
            found = self.literal_start() if (char.isalpha() or char in "'\"") else None
            if found is not None:
                self.read_literal(*found)
                continue
            if not closers and self._ends_expression(char):
                if start == self.pos or not text[start : self.pos].strip():
                    raise self.fail("f-string: valid expression required before '}'")
                return text[start : self.pos]
            if char in _OPENERS:
                closers.append(_OPENERS[char])
            elif closers and char == closers[-1]:
                closers.pop()
            elif char in ")]}":
                raise self.fail(f"f-string: unmatched {char!r}")
            self.pos += 1
        raise self.fail("f-string: expecting '}'")

    def _ends_expression(self, char: str) -> bool:
        text, pos = self.text, self.pos
        if char in "}:":
            return True
        if char == "!":
            return text[pos + 1 : pos + 2] != "="
        if char == "=":
            before, after = text[pos - 1 : pos], text[pos + 1 : pos + 2]
            return before not in ("=", "!", "<", ">") and after != "="
        return False


class _Rewriter:
    """Cut f-strings out of an expression, parse the rest, and put their trees back."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.trees: dict[str, ast.expr] = {}

    def parse(self) -> ast.expr:
        rewritten = self.rewrite()
        tree = ast.parse(rewritten, mode="eval").body
        result = _Substitute(self.trees).visit(tree)
        assert isinstance(result, ast.expr)
        return ast.fix_missing_locations(result)

    def rewrite(self) -> str:
        scanner = _Scanner(self.source)
        text = self.source
        out: list[str] = []
        while scanner.pos < len(text):
            char = text[scanner.pos]
            if char == "#":
                end = text.find("\n", scanner.pos)
                scanner.pos = len(text) if end < 0 else end
                continue
            found = scanner.literal_start() if (char.isalpha() or char in "'\"") else None
            if found is None:
                start = scanner.pos
                scanner.pos += 1
                if char.isalnum() or char == "_":  # the rest of a name or number
                    while scanner.pos < len(text) and (
                        text[scanner.pos].isalnum() or text[scanner.pos] == "_"
                    ):
                        scanner.pos += 1
                out.append(text[start : scanner.pos])
                continue
            start = scanner.pos
            group = self.read_group(scanner)
            if any("f" in lit.prefix for lit in group):
                name = f"{_PLACEHOLDER}{len(self.trees)}"
                self.trees[name] = self.joined(group)
                out.append(f"({name})")
            else:
                out.append(text[start : scanner.pos])
        return "".join(out)

    def read_group(self, scanner: _Scanner) -> list[_Literal]:
        """Adjacent string literals (implicit concatenation) from the cursor on."""
        group = [scanner.read_literal(*_must(scanner.literal_start()))]
        while True:
            mark = scanner.pos
            while scanner.peek() in (" ", "\t", "\n", "\r", "\\") and scanner.peek():
                scanner.pos += 2 if scanner.peek(2) in ("\\\n", "\\\r") else 1
            found = scanner.literal_start()
            if found is None:
                scanner.pos = mark
                return group
            group.append(scanner.read_literal(*found))

    def joined(self, group: list[_Literal]) -> ast.JoinedStr:
        values: list[ast.expr] = []
        for literal in group:
            if "b" in literal.prefix:
                raise SyntaxError("cannot mix bytes and nonbytes literals")
            raw = "r" in literal.prefix
            for part in literal.parts:
                if isinstance(part, str):
                    _add_text(values, _decode(part, raw))
                else:
                    values.extend(self.field(part, raw))
        return ast.JoinedStr(values=values)

    def field(self, item: _Field, raw: bool) -> list[ast.expr]:
        out: list[ast.expr] = []
        if item.debug is not None:
            out.append(ast.Constant(value=item.debug))
        value = parse_expression(f"(\n{item.expression}\n)")
        spec = None
        if item.spec is not None:
            spec_values: list[ast.expr] = []
            for part in item.spec:
                if isinstance(part, str):
                    _add_text(spec_values, _decode(part, raw))
                else:
                    spec_values.extend(self.field(part, raw))
            spec = ast.JoinedStr(values=spec_values)
        out.append(ast.FormattedValue(value=value, conversion=item.conversion, format_spec=spec))
        return out


class _Substitute(ast.NodeTransformer):
    def __init__(self, trees: dict[str, ast.expr]) -> None:
        self.trees = trees

    def visit_Name(self, node: ast.Name) -> ast.expr:
        return self.trees.get(node.id, node)


def _must(found: tuple[str, str] | None) -> tuple[str, str]:
    assert found is not None
    return found


def _add_text(values: list[ast.expr], text: str) -> None:
    if not text:
        return
    last = values[-1] if values else None
    if isinstance(last, ast.Constant) and isinstance(last.value, str):
        last.value += text
    else:
        values.append(ast.Constant(value=text))


def _decode(text: str, raw: bool) -> str:
    """The value of literal text of a (non-bytes) string: escapes processed unless raw."""
    if raw or "\\" not in text:
        return text
    escaped: list[str] = []
    backslashes = 0
    for char in text:
        if char == '"' and backslashes % 2 == 0:
            escaped.append("\\")
        escaped.append(char)
        backslashes = backslashes + 1 if char == "\\" else 0
    value = ast.literal_eval('"""' + "".join(escaped) + '"""')
    assert isinstance(value, str)
    return value
