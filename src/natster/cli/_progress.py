"""Progress bars for long work: files and bytes done, rate, ETA."""

from __future__ import annotations

from types import TracebackType

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ._out import err, plain, visible


class ScanBar:
    """A :class:`natster.catalog.scan.Progress` drawn on stderr (gone when done)."""

    def __init__(self, label: str) -> None:
        self._progress = Progress(
            TextColumn("{task.description}", style="bold", markup=False),
            BarColumn(),
            TextColumn("{task.fields[done]}/{task.fields[files]} files"),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err.console,
            transient=True,
        )
        self._label = label
        self._task: TaskID | None = None
        self._done = 0

    def __enter__(self) -> ScanBar:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def planned(self, files: int, size: int) -> None:
        label = visible(self._label)
        self._task = self._progress.add_task(label, total=size or 1, files=files, done=0)

    def advance(self, files: int, size: int) -> None:
        if self._task is not None:
            self._done += files
            self._progress.update(self._task, advance=size, done=self._done)


class TransferBar:
    """Bytes, rate and ETA of the file being downloaded, on stderr."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description}", style="bold", markup=False),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=err.console,
            transient=True,
        )
        self._task: TaskID | None = None
        self._label = ""
        self._why: str | None = None
        self._route: str | None = None

    def __enter__(self) -> TransferBar:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def start(self, label: str, size: int) -> None:
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._label = visible(label)
        self._task = self._progress.add_task(self._label, total=size or 1)

    def waiting(self, why: str | None) -> None:
        """Say why the transfer waits (None: it goes on): on the bar on a terminal, else
        one line when it starts waiting and one when it goes on."""
        if why == self._why:
            return
        self._why = why
        if not err.console.is_terminal:
            err.print(plain(why or f"{self._label}: going on"))
        self._describe()

    def via(self, route: str) -> None:
        """Say how the bytes come ("direct", "via hub"), beside the file's name."""
        if route != self._route:
            self._route = route
            self._describe()

    def _describe(self) -> None:
        if self._task is not None:
            said = self._why or self._route
            label = f"{self._label} ({said})" if said else self._label
            self._progress.update(self._task, description=label)

    def update(self, done: int, total: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=done, total=total or 1)
