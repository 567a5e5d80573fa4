"""The rows a backfill run rejects: how many, and the first ones for its record."""

from products.models import BackfillRun


class Rejections:
    """Collects rejected rows: a total, and the first `cap` of them for the record."""

    def __init__(self, cap=None, forward=None):
        self.cap = BackfillRun.MAX_STORED_REJECTIONS if cap is None else cap
        self.count = 0
        self.stored = []
        self.forward = forward

    def __call__(self, line, reason):
        self.count += 1
        if len(self.stored) < self.cap:
            self.stored.append({"line": line, "reason": reason})
        if self.forward is not None:
            self.forward(line, reason)

    def sorted(self):
        return sorted(self.stored, key=lambda item: item["line"])
