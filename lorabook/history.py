"""`History`: what `fit` measured, one entry per epoch (see lorabook.train for the conventions)."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class History:
    """What `fit` measured, one entry per epoch.

    epochs: [1, 2, ..., E].  time: seconds since the start of fit at the end
    of each epoch (so time[-1] is the total).  train_loss, val_loss: mean
    losses.  train_accuracy, val_accuracy: fractions in [0, 1], or None when
    the targets are not class labels.  val_* are None without val_data.
    Two Histories compare equal when every measured number is equal (time is
    not compared: a run is never equally fast twice).
    """

    train_loss: list = field(default_factory=list)
    train_accuracy: list | None = None
    val_loss: list | None = None
    val_accuracy: list | None = None
    epochs: list = field(default_factory=list)
    time: list = field(default_factory=list, compare=False)

    def final(self) -> dict[str, float]:
        """The last epoch's numbers as a dict (entries that were not measured are left out)."""
        names = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")
        return {name: getattr(self, name)[-1] for name in names if getattr(self, name)}

    def summary(self, times: bool = False) -> str:
        """A small table, one row per epoch, for printing.

        times=True adds the seconds since the start of fit; they are left out
        by default because they differ from run to run and machine to machine
        (a notebook that prints them would change every time it is re-run).
        """
        columns = [(name, values) for name, values in self._metrics() if values is not None]
        header = f"{'epoch':>5} " + " ".join(f"{name:>14}" for name, _ in columns)
        rows = [header + (f" {'time (s)':>9}" if times else "")]
        for row, epoch in enumerate(self.epochs):
            cells = " ".join(f"{values[row]:>14.4f}" for _, values in columns)
            rows.append(f"{epoch:>5} {cells}" + (f" {self.time[row]:>9.2f}" if times else ""))
        return "\n".join(rows)

    def _metrics(self):
        return [(name, getattr(self, name)) for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy")]

    def __repr__(self):
        # No run time here: a printed History should read the same on every run (see summary(times=True)).
        if not self.epochs:
            return "History(no epochs yet)"
        last = ", ".join(f"{name}={value:.4f}" for name, value in self.final().items())
        return f"History({len(self.epochs)} epochs; last epoch: {last})"
