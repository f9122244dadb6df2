"""References and ranges as text: names, model and dataset references, frame ranges, each parsed and
formatted in this one place."""

from __future__ import annotations

import re
from dataclasses import dataclass

from crispml.errors import InvalidInput

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")


def check_name(name: str, what: str = "name") -> str:
    """Names of datasets, models and aliases: a letter, then letters, digits, '_', '.' or '-'."""
    if not _NAME.match(name):
        raise InvalidInput(
            f"{what} {name!r} is not valid: start with a letter, then up to 63 letters, digits, '_', '.' or '-'",
            field=what,
        )
    return name


@dataclass(frozen=True)
class ModelRef:
    """A reference to a model version: `name@alias`, `name/3`, an id `mv-...`, or `name` (its newest version).

    Exactly one form is set: `id`; or `name` with `alias`, with `version`, or alone.
    """

    name: str | None = None
    alias: str | None = None
    version: int | None = None
    id: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """Parse a reference; `InvalidInput` names what is wrong with one that cannot name a model."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("a model reference is empty; use name, name@alias, name/3 or mv-...", field="model")
        if text.startswith("mv-"):
            return cls(id=text)
        if "@" in text:
            name, alias = text.split("@", 1)
            return cls(name=_ref_part(name, "model name", text), alias=_ref_part(alias, "alias", text))
        if "/" in text:
            name, version = text.split("/", 1)
            return cls(name=_ref_part(name, "model name", text), version=_version(version, text, f"{name}/3"))
        return cls(name=_ref_part(text, "model name", text))

    @classmethod
    def of(cls, name: str, *, version: int | None = None, alias: str | None = None) -> ModelRef:
        """The reference REST spells as a name with an optional version or alias (not both)."""
        if version is not None and alias is not None:
            raise InvalidInput("give a version or an alias, not both", field="version")
        return cls(name=name, version=version, alias=alias)

    @property
    def newest(self) -> bool:
        """Whether the reference is a bare name: its newest version (or, to some readers, all of them)."""
        return self.id is None and self.alias is None and self.version is None

    def __str__(self) -> str:
        if self.id is not None:
            return self.id
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        if self.version is not None:
            return f"{self.name}/{self.version}"
        return str(self.name)


@dataclass(frozen=True)
class DatasetRef:
    """A reference to a dataset version: `name/2`, an id `ds-...`, or `name` (its newest version)."""

    name: str | None = None
    version: int | None = None
    id: str | None = None

    @classmethod
    def parse(cls, text: str) -> DatasetRef:
        """Parse a reference; `InvalidInput` names what is wrong with one that cannot name a dataset."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput("a dataset reference is empty; use name, name/2 or ds-...", field="dataset")
        if text.startswith("ds-"):
            return cls(id=text)
        name, slash, version = text.partition("/")
        if slash:
            return cls(name=_ref_part(name, "dataset name", text), version=_version(version, text, f"{name}/2"))
        return cls(name=_ref_part(text, "dataset name", text))

    def __str__(self) -> str:
        if self.id is not None:
            return self.id
        return f"{self.name}/{self.version}" if self.version is not None else str(self.name)


def _ref_part(part: str, what: str, text: str) -> str:
    if not _NAME.match(part):
        raise InvalidInput(
            f"{text!r} is not a valid reference: {what} {part!r} must start with a letter, then up to 63 "
            "letters, digits, '_', '.' or '-'",
            field=what.split()[0],
        )
    return part


def _version(version: str, text: str, example: str) -> int:
    # isascii: str.isdigit() also holds for '²' and other scripts' digits, which int() refuses.
    if not (version.isascii() and version.isdigit()) or len(version) > 9 or int(version) < 1:
        raise InvalidInput(f"{text!r} is not a valid reference: a version is a number from 1, as in {example}")
    return int(version)


def parse_frames(spec: str | list[int] | tuple[int, ...] | None, available: int) -> tuple[int, ...]:
    """Parse '1-6', '7,9,11' or '1-3,8' into sorted frame numbers, each within 1..available."""
    if spec is None or spec == "":
        return tuple(range(1, available + 1))
    numbers: set[int] = set()
    if isinstance(spec, str):
        for part in spec.split(","):
            part = part.strip()
            try:
                if "-" in part:
                    lo_text, hi_text = part.split("-", 1)
                    lo, hi = _frame_number(lo_text), _frame_number(hi_text)
                    if lo > hi:
                        raise InvalidInput(f"frame range {part!r} runs backwards", field="frames")
                    # Bounded before anything is built: '1-999999999999' must not become a trillion numbers.
                    if lo < 1 or hi > available:
                        raise InvalidInput(
                            f"frame range {part!r} is out of range: the dataset has frames 1..{available}",
                            field="frames",
                        )
                    numbers.update(range(lo, hi + 1))
                else:
                    numbers.add(_frame_number(part))
            except ValueError:
                raise InvalidInput(
                    f"frames {spec!r} is not a list of frames like '1-6' or '7,8,9'", field="frames"
                ) from None
    else:
        numbers.update(int(n) for n in spec)
    bad = sorted(n for n in numbers if n < 1 or n > available)
    if bad:
        raise InvalidInput(f"frame {bad[0]} is out of range 1..{available}", field="frames")
    if not numbers:
        raise InvalidInput("no frames selected", field="frames")
    return tuple(sorted(numbers))


def format_frames(frames: list[int] | tuple[int, ...]) -> str:
    """Frame numbers as `parse_frames` reads them, runs shortened: [1, 2, 3, 5] -> '1-3,5'."""
    numbers = sorted(set(frames))
    runs: list[str] = []
    start = 0
    for i, number in enumerate(numbers):
        if i + 1 == len(numbers) or numbers[i + 1] != number + 1:
            first = numbers[start]
            runs.append(str(first) if first == number else f"{first}-{number}")
            start = i + 1
    return ",".join(runs)


def _frame_number(text: str) -> int:
    # ASCII digits only: int() would take '²'-like digits of other scripts and spaces.
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise ValueError(text)
    return int(text)
