"""The benchmark's one table: a row per figure, Paygate next to the floor, with the target."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

COLUMNS = ("scenario", "figure", "Paygate", "floor", "ratio", "target", "")


@attrs.frozen
class Row:
    scenario: str
    figure: str
    paygate: str
    floor: str
    ratio: str
    target: str
    met: bool | None = None
    note: str = ""

    def cells(self) -> tuple[str, ...]:
        verdict = "" if self.met is None else ("met" if self.met else "MISSED")
        return (self.scenario, self.figure, self.paygate, self.floor, self.ratio, self.target,
                f"{verdict} {self.note}".strip())


def render(rows: Sequence[Row], *, header: str) -> str:
    table = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    numeric = {2, 3, 4}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=False))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([header, "", line(COLUMNS), rule, *(line(cells) for cells in table[1:])])
