"""Counting problems without keeping thousands of file names."""

from __future__ import annotations

from pydantic import BaseModel, Field

EXAMPLES_KEPT = 5


class Issue(BaseModel):
    count: int = Field(description="How many files, lines or boxes have this problem.")
    examples: list[str] = Field(
        default_factory=list, description="A few affected file names (relative to the version)."
    )


class IssueLog:
    """Counts one kind of problem and keeps the first few examples, no more."""

    __slots__ = ("count", "examples", "keep")

    def __init__(self, keep: int = EXAMPLES_KEPT) -> None:
        self.count = 0
        self.examples: list[str] = []
        self.keep = keep

    def add(self, example: str, n: int = 1) -> None:
        self.count += n
        if len(self.examples) < self.keep and example not in self.examples:
            self.examples.append(example)

    def add_all(self, examples: list[str]) -> None:
        """Count every entry of an already sorted list, keeping the first few."""
        self.count += len(examples)
        for example in examples[: self.keep - len(self.examples)]:
            self.examples.append(example)

    def result(self, keep: int = EXAMPLES_KEPT) -> Issue:
        return Issue(count=self.count, examples=self.examples[:keep])
