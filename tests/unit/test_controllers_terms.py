"""Handlers of an earlier leadership term go quiet once a new term begins."""

from __future__ import annotations

from minik8s.controllers.terms import Term


def test_terms_silence_handlers_of_an_earlier_term() -> None:
    """A handler bound in term 1 stops acting when term 2 begins; term 2's acts."""
    seen: list[str] = []
    term = Term()
    first = term.begin()(lambda x: seen.append(f"1:{x}"))
    first("a")
    second = term.begin()(lambda x: seen.append(f"2:{x}"))
    first("b")
    second("c")
    assert seen == ["1:a", "2:c"]
