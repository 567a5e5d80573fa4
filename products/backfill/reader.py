"""Streaming read of a product CSV, each row checked by the catalogue's rules.

The reader never holds more than a batch of `SCREENED_ROWS` records: it yields
valid rows one at a time (each batch's columns screened at once, and a batch the
screens do not pass checked cell by cell, by the field rules of `products.services`,
the rules of every door, reworded as the file's reasons) and reports each rejected row, with the
physical line of the file where the row starts, through a callback. A file
that cannot be used at all (missing, binary, not UTF-8, empty, no usable
header) raises `BackfillFileError`, whose message names the problem for a
person.

Duplicate skus are not detected here but by the writer, in the database: a
set of every sku seen would grow with the file, and memory must stay flat.
"""

import csv
import io
import os
from dataclasses import dataclass, field
from itertools import islice, repeat

from django.core.exceptions import ValidationError

from products.backfill import legacy
from products.services import checked_price, clean_text, prices_written_clean, written_clean
from products.text import trim
from shop.errors import BackfillFileError

REQUIRED_COLUMNS = ("sku", "name", "price")
OPTIONAL_COLUMNS = ("description", "category", "active")
# What an `active` cell may say, in any case (empty: kept as it is; true for a new product).
ACTIVE_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
# The `active` cells a screened column may hold, as written: the words, and empty.
ACTIVE_AS_WRITTEN = {"": None, **ACTIVE_WORDS}
KNOWN_COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

# Records whose columns are screened together (`ProductCsvReader._screened`): a column's
# screen runs in C, where the field rules, cell by cell, cost a million-row file 4 s.
SCREENED_ROWS = 1000
SNIFF_BYTES = 64 * 1024
# The csv module refuses a field past its limit with an error it cannot recover from
# cleanly (inside quotes it would resume mid-field). The limit is set far above any
# real value, so a long description is one rejected row; only a field past it (a
# broken file: an unclosed quote swallowing megabytes) stops the import. Memory use
# is bounded by it.
MAX_FIELD = 16 * 1024 * 1024
csv.field_size_limit(MAX_FIELD)


@dataclass
class ReadStats:
    rows: int = 0
    rejected: int = 0
    bytes_read: int = 0
    warnings: list = field(default_factory=list)


class _GuardedRaw(io.RawIOBase):
    """A binary stream that counts bytes (for progress) and refuses NUL bytes.

    A NUL never appears in text; finding one means a binary file (or UTF-16),
    and PostgreSQL could not store it anyway. Checking each 64 KiB chunk in C
    costs nothing next to parsing.
    """

    def __init__(self, raw):
        self.raw = raw
        self.bytes_read = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.raw.read(len(buffer))
        if not data:
            return 0
        position = data.find(b"\x00")
        if position >= 0:
            raise BackfillFileError(
                "the file is binary, not CSV text "
                f"(NUL byte at offset {self.bytes_read + position})"
            )
        size = len(data)
        buffer[:size] = data
        self.bytes_read += size
        return size


def _check_start(head):
    """Clear messages for the usual wrong files, from their first bytes."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BackfillFileError("the file is UTF-16 text; save it as UTF-8 CSV")
    if b"\x00" in head:
        raise BackfillFileError("the file is binary, not CSV text")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut by the end of the sample is not an error.
        if error.start < len(head) - 3:
            raise BackfillFileError(
                f"the file is not UTF-8 text (invalid byte 0x{head[error.start]:02x} "
                f"at offset {error.start}); save it as UTF-8 CSV"
            ) from None


def _columns(header):
    """`(format, positions, unknown)`: which format the header is (`"native"` or the old
    service's `"legacy"`), where its known columns are, and the unknown ones (one warning)."""
    names = [trim(raw_name).lower() for raw_name in header]
    if legacy.is_legacy_header(names):
        file_format, known, required = "legacy", legacy.COLUMNS, legacy.COLUMNS
    else:
        file_format, known, required = "native", KNOWN_COLUMNS, REQUIRED_COLUMNS
    positions, unknown = {}, []
    for index, (name, raw_name) in enumerate(zip(names, header, strict=True)):
        if name in known:
            if name in positions:
                raise BackfillFileError(f"the header names the column {name!r} twice")
            positions[name] = index
        else:
            unknown.append(trim(raw_name) or f"(unnamed column {index + 1})")
    missing = [name for name in required if name not in positions]
    if missing:
        found = ", ".join(name.strip() for name in header) or "nothing"
        raise BackfillFileError(
            f"missing required column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)} in the header (found: {found[:200]})"
        )
    return file_format, positions, unknown


class ProductCsvReader:
    """Reads a product CSV from a path or a binary file object.

    Usage: `reader = ProductCsvReader(source)`, then `reader.open()` (checks the
    file and its header, may raise `BackfillFileError`), then iterate over
    `reader.rows(on_reject)` for the valid rows. `reader.stats` counts as it goes.
    """

    def __init__(self, source):
        self.source = source
        self.stats = ReadStats()
        self.size = None
        self._raw = None
        self._csv = None
        self._positions = None
        self._owns_file = False
        self._record_start = 0  # bytes read when the last record ended

    # -- opening -----------------------------------------------------------

    def open(self):
        stream = self._open_binary()
        head = stream.read(SNIFF_BYTES)
        if not head.removeprefix(b"\xef\xbb\xbf").strip():
            raise BackfillFileError("the file is empty")
        _check_start(head)
        stream.seek(0)
        self._raw = _GuardedRaw(stream)
        text = io.TextIOWrapper(
            io.BufferedReader(self._raw, buffer_size=SNIFF_BYTES),
            encoding="utf-8-sig",  # drops a leading BOM
            errors="strict",
            newline="",  # the csv module handles \n, \r\n and \r, and newlines in quotes
        )
        self._csv = csv.reader(text, strict=False)
        header = self._next_record()
        while header is not None and not any(cell.strip() for cell in header):
            header = self._next_record()  # blank lines before the header
        if header is None:
            raise BackfillFileError("the file is empty")
        self.format, self._positions, unknown = _columns(header)
        self._width = len(header)
        if unknown:
            self.stats.warnings.append(
                f"ignored unknown column{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}"
            )
        return self

    def _open_binary(self):
        if hasattr(self.source, "read"):
            stream = self.source
            if not stream.seekable():
                raise BackfillFileError("the upload cannot be re-read (not seekable)")
            stream.seek(0, os.SEEK_END)
            self.size = stream.tell()
            stream.seek(0)
            return stream
        path = os.fspath(self.source)
        try:
            stream = open(path, "rb")  # noqa: SIM115 (closed by close())
        except FileNotFoundError:
            raise BackfillFileError(f"no such file: {path}") from None
        except IsADirectoryError:
            raise BackfillFileError(f"{path} is a directory, not a CSV file") from None
        except OSError as error:
            raise BackfillFileError(f"cannot open {path}: {error.strerror}") from None
        self._owns_file = True
        self.size = os.fstat(stream.fileno()).st_size
        return stream

    def close(self):
        if self._owns_file and self._raw is not None:
            self._raw.raw.close()
        elif self._owns_file and hasattr(self.source, "close"):
            self.source.close()

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()

    @property
    def bytes_read(self):
        return self._raw.bytes_read if self._raw is not None else 0

    def _next_record(self):
        try:
            return next(self._csv, None)
        except UnicodeDecodeError:
            raise BackfillFileError(
                f"the file is not UTF-8 text (invalid byte near line {self._csv.line_num + 1}); "
                "save it as UTF-8 CSV"
            ) from None
        except csv.Error as error:
            if self._past_field_limit():
                raise BackfillFileError(
                    f"line {self._csv.line_num}: a field is longer than {MAX_FIELD:,} characters "
                    "(an unclosed quote?); nothing was imported"
                ) from None
            raise BackfillFileError(f"line {self._csv.line_num}: malformed CSV ({error})") from None

    def _past_field_limit(self):
        """Whether the record being read has run past `MAX_FIELD` characters, the csv
        module's limit (a character is at least a byte; the buffer reads ahead by at most
        two chunks of `SNIFF_BYTES`)."""
        return self.bytes_read - self._record_start > MAX_FIELD - 2 * SNIFF_BYTES

    # -- rows --------------------------------------------------------------

    def rows(self, on_reject):
        """Yields each valid row; calls `on_reject(line, reason)` for each invalid one.

        A row is a plain tuple in the writer's column order (`writer.STAGING_COLUMNS`).
        """
        if self.format == "legacy":
            return self._legacy_rows(self._records(), on_reject)
        return self._native_rows(self._records(), on_reject)

    def duplicate(self, sku, first_line):
        """Why a later row with the same sku is rejected, in the file's own terms."""
        if self.format == "legacy":
            return (
                f"duplicate product: the same name, metal type and stone type as line {first_line}"
            )
        return f"duplicate sku {sku} (first seen on line {first_line})"

    def _records(self):
        """`(line, record)` for each record of the header's width (a list of its cells), and
        `(line, reason)` (a text) for each record of another width, counted as rejected.

        `line` is the file line where the record starts (a quoted field may span lines).
        The reason travels with the records, so that each consumer reports rejections in
        the file's order, whichever way it reads.
        """
        width = self._width
        stats = self.stats
        line = self._csv.line_num + 1  # where the next record starts
        raw = self._raw
        while (record := self._next_record()) is not None:
            start, line = line, self._csv.line_num + 1
            self._record_start = raw.bytes_read
            if len(record) != width:
                if not record or (len(record) == 1 and not record[0].strip()):
                    continue  # a blank line
                stats.rows += 1
                stats.rejected += 1
                reason = f"expected {width} fields, found {len(record)}"
                if line - start > 1 and any("\n" in value for value in record):
                    # An unclosed quote swallows the lines after it into one field.
                    reason += (
                        f"; this record runs over lines {start} to {line - 1}: a quote opened on"
                        f" line {start} is probably never closed, and those lines were read as"
                        " part of one field"
                    )
                yield start, reason
                continue
            stats.rows += 1
            yield start, record

    def _native_rows(self, records, on_reject):
        """The rows of a native file, `SCREENED_ROWS` records at a time: each batch's columns
        are screened at once (`_screened`), and a batch the screen does not pass, or that
        holds a record of the wrong width, is checked cell by cell (`_checked_rows`)."""
        while batch := list(islice(records, SCREENED_ROWS)):
            lines, cells = zip(*batch, strict=True)
            columns = None if str in map(type, cells) else self._screened(cells)
            if columns is None:
                yield from self._checked_rows(batch, on_reject)
            else:
                yield from zip(lines, *columns, strict=True)

    def _screened(self, records):
        """The staged columns of `records`, every cell as the file has it, when the field
        rules' screens (`products.services`) pass each column whole; None otherwise."""
        positions = self._positions
        columns = list(zip(*records, strict=True))
        for name in ("sku", "name", "category", "description"):
            if name in positions and not written_clean(name, columns[positions[name]]):
                return None
        prices = columns[positions["price"]]
        if not prices_written_clean(prices):
            return None
        count = len(records)
        active = repeat(None, count)
        if "active" in positions:
            written = columns[positions["active"]]
            if not ACTIVE_AS_WRITTEN.keys() >= set(written):
                return None
            active = map(ACTIVE_AS_WRITTEN.__getitem__, written)

        def text(name):
            return columns[positions[name]] if name in positions else repeat("", count)

        return (
            *(text(name) for name in ("sku", "name", "description", "category")),
            prices,
            repeat("", count),  # metal_type
            repeat("", count),  # stone_type
            repeat(None, count),  # customizable
            active,
        )

    def _checked_rows(self, batch, on_reject):
        """The valid rows of `batch`, each cell through its field rule; its records of the
        wrong width reported in their place."""
        positions = self._positions
        i_sku, i_name, i_price = positions["sku"], positions["name"], positions["price"]
        i_description = positions.get("description")
        i_category = positions.get("category")
        i_active = positions.get("active")
        stats = self.stats
        # A row is rejected for the first of its cells that breaks a rule, read in this order.
        for start, record in batch:
            if type(record) is str:  # the wrong width: `_records` gave the reason
                on_reject(start, record)
                continue
            try:
                sku = clean_text("sku", record[i_sku])
                name = clean_text("name", record[i_name])
                category = "" if i_category is None else clean_text("category", record[i_category])
                description = ""
                if i_description is not None:
                    description = clean_text("description", record[i_description])
                price = checked_price(record[i_price])
            except ValidationError as refused:
                reason = rejection_reason(refused)
            else:
                active, reason = (None, None) if i_active is None else active_cell(record[i_active])
                if reason is None:
                    yield start, sku, name, description, category, price, "", "", None, active
                    continue
            stats.rejected += 1
            on_reject(start, reason)

    def _legacy_rows(self, records, on_reject):
        """The old service's rows: the sku derived from name, metal and stone; `$` prices."""
        positions = self._positions
        columns = [positions[column] for column in legacy.COLUMNS]
        stats = self.stats
        for start, record in records:
            if type(record) is str:  # the wrong width: `_records` gave the reason
                on_reject(start, record)
                continue
            name, metal, written_price, stone, written_choice = (record[i] for i in columns)
            try:
                name = clean_text("name", name)
                metal = clean_text("metal_type", metal)
                stone = clean_text("stone_type", stone)
                price, reason = legacy.plain_price(trim(written_price))
                if reason is None:
                    price = checked_price(price)
            except ValidationError as refused:
                reason = rejection_reason(refused)
            if reason is None:
                choice, reason = legacy.customizable(trim(written_choice))
            if reason is None:
                sku = legacy.derived_sku(name, metal, stone)
                yield (start, sku, name, "", "", price, metal, stone, choice, None)
                continue
            stats.rejected += 1
            on_reject(start, reason)


# Each field as the file names it.
COLUMN_NAMES = {"metal_type": "metal type", "stone_type": "stone type"}


def active_cell(written):
    """`(True | False | None, None)` for an `active` cell (None: empty), or `(None, reason)`."""
    word = trim(written)
    if not word:
        return None, None
    active = ACTIVE_WORDS.get(word.casefold())
    if active is None:
        return None, f"active must be true or false (or yes/no, 1/0), not {word[:40]!r}"
    return active, None


def rejection_reason(problem):
    """Why a row is rejected, in the file's terms, from a field rule's refusal
    (`products.services`: the field is `params["field"]`)."""
    params = problem.params or {}
    field = params.get("field")
    column = COLUMN_NAMES.get(field, field)
    if problem.code == "blank":
        return f"missing {column}"
    if problem.code == "max_length":
        limit, length = params["limit"], params["length"]
        if field == "description":
            return f"description is longer than {limit:,} characters ({length:,})"
        return f"{column} is longer than {limit} characters ({length})"
    if problem.code == "invisible":
        return f"sku {params['value']!r} contains an invisible character ({params['hidden']})"
    if problem.code == "price":
        return params["problem"]
    return f"{column}: {problem.messages[0]}"
