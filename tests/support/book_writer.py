"""A process that writes to a survey book in a loop, for the crash tests.

``python -m tests.support.book_writer LOG_DIR START`` claims, edits and starts
surveys for ever, printing one line per write *after* the call returned (so
after its commit): ``claim <n>``, ``edit <n>``, ``survey <n>``. The test kills
it mid-write and checks that every printed write is in the file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from webperf3.store.record import Result
from webperf3.survey import SurveyBook


def main() -> None:
    log_dir, n = Path(sys.argv[1]), int(sys.argv[2])
    book = SurveyBook.open(log_dir)
    while True:
        n += 1
        book.claim(f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}", f"Place {n}", at=1_700_000_000 + n)
        print(f"claim {n}", flush=True)
        book.edit(Result(port=5201, time=1_700_000_000 + n, cookie=f"cookie{n}"), place=f"Edited {n}", excluded=n % 2 == 0)
        print(f"edit {n}", flush=True)
        if n % 10 == 0:
            book.start(f"Survey at {n}", at=1_700_000_000 + n)
            print(f"survey {n}", flush=True)


if __name__ == "__main__":
    main()
