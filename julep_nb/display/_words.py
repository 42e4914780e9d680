"""How a card names the things of one execution service ("workflow", "events"…)."""

from __future__ import annotations

from dataclasses import dataclass

from julep_nb.live.state import ExecutionState

__all__ = ["Words", "title", "words"]


@dataclass(frozen=True)
class Words:
    """How a card names things of one source."""

    noun: str = "execution"  # what runs
    task: str = "Type"  # what it runs
    entries: str = "events"  # its timeline rows


_WORDS: dict[str | None, Words] = {
    "Julep": Words("execution", "Task", "transitions"),
    "Temporal": Words("workflow", "Type", "events"),
}


def words(state: ExecutionState) -> Words:
    """The words for ``state``'s source (generic ones for a source not listed)."""
    return _WORDS.get(state.source, Words())


def title(state: ExecutionState) -> str:
    """ "Julep execution", "Temporal workflow"…: what the card is about."""
    noun = words(state).noun
    return f"{state.source} {noun}" if state.source else noun.capitalize()
