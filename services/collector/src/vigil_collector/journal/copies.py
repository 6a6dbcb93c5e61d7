"""Which journal entries this collector has published already, in any selection.

Two selections of one journal (`unit=a` and `priority<=warning`) both take an entry
that fits both, and each publishes it on its own subject (a view of either one shows
it). The second and later copies go out marked `duplicate`, so a search over every
selection of the host finds the entry once. The cursors of the last `KEPT` entries
are remembered: a copy of one older than that (a selection leased much later whose
tail reaches back that far), or after a restart, goes out unmarked, and the search
drops it by its cursor within a page.
"""

from vigil.messages import JournalLine

KEPT = 100_000  # cursors (about 100 bytes each)


class Copies:
    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._seen: dict[str, None] = {}  # in the order published: the oldest go first

    def mark(self, lines: list[JournalLine]) -> list[JournalLine]:
        """`lines` about to be published, those published before marked `duplicate`."""
        marked = []
        for line in lines:
            if line.cursor in self._seen:
                line = line.model_copy(update={"duplicate": True})
            else:
                self._seen[line.cursor] = None
            marked.append(line)
        while len(self._seen) > self._kept:
            del self._seen[next(iter(self._seen))]
        return marked
