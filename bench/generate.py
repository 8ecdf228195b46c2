"""Deterministic generator of the benchmark's `vendors` data set.

`generate(rows, out_dir, seed)` writes, streamed in chunks (memory stays flat at any size):

- `vendors-initial.csv`: `rows` vendors, sorted by `vendor_id`;
- `vendors-next.csv`: the next snapshot, also sorted by key: every old key still present, 85% of
  the rows unchanged (byte for byte), 10% changed in one to three non-key columns, 5% new keys
  interleaved between the old ones (`rows + rows/20` lines);
- `vendors-delete.csv`: 10,000 existing keys (1% of `rows` for small sizes), header `vendor_id`;
- `vendors.schema.json`: the Frictionless Table Schema of the two snapshots;
- `vendors-manifest.json`: the parameters, the exact counts and the file sizes. It is written
  last, so a run that was interrupted is never taken for a cached result.

Exactness comes from the layout: the old rows go in blocks of 20; the key numbers of a block are
21 consecutive integers, one of which (picked at random) is left out of the initial snapshot and
becomes the block's new key in the next one, and exactly 2 of the block's 20 rows change. The
same `rows` and `seed` always give the same bytes.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import math
import multiprocessing
import os
import random
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

GENERATOR_VERSION = 1
INITIAL_FILE = "vendors-initial.csv"
NEXT_FILE = "vendors-next.csv"
DELETE_FILE = "vendors-delete.csv"
SCHEMA_FILE = "vendors.schema.json"
MANIFEST_FILE = "vendors-manifest.json"

BLOCK_ROWS = 20  # old rows per block: one new key (5%) and two changed rows (10%) per block
CHANGED_PER_BLOCK = 2
MAX_DELETE_KEYS = 10_000
CHUNK_ROWS = 50_000  # rows per independently seeded chunk (a multiple of BLOCK_ROWS)

COLUMNS = (
    "vendor_id",
    "name",
    "country",
    "city",
    "iban",
    "credit_limit",
    "rating",
    "active",
    "onboarded",
    "updated_at",
)

SCHEMA: dict[str, Any] = {
    "fields": [
        {"name": "vendor_id", "type": "string", "constraints": {"required": True}},
        {"name": "name", "type": "string", "constraints": {"required": True}},
        {"name": "country", "type": "string", "constraints": {"required": True}},
        {"name": "city", "type": "string"},
        {"name": "iban", "type": "string"},
        {"name": "credit_limit", "type": "integer"},
        {"name": "rating", "type": "number"},
        {"name": "active", "type": "boolean"},
        {"name": "onboarded", "type": "date"},
        {"name": "updated_at", "type": "datetime"},
    ],
    "primaryKey": ["vendor_id"],
}

# Country code, IBAN length, legal forms, cities. Kept free of commas and quotes: CSV-quoted
# values come from _NAME_STEMS only, on purpose.
_COUNTRIES: tuple[tuple[str, int, tuple[str, ...], tuple[str, ...]], ...] = (
    ("DE", 22, ("GmbH", "AG", "KG"), ("Berlin", "Hamburg", "München", "Köln", "Frankfurt am Main")),
    ("FR", 27, ("SA", "SARL", "SAS"), ("Paris", "Lyon", "Marseille", "Toulouse", "Lille")),
    ("GB", 22, ("Ltd", "PLC", "LLP"), ("London", "Manchester", "Birmingham", "Leeds", "Glasgow")),
    ("US", 22, ("Inc.", "LLC", "Corp."), ("New York", "Chicago", "Houston", "Seattle", "Atlanta")),
    ("NL", 18, ("B.V.", "N.V."), ("Amsterdam", "Rotterdam", "Utrecht", "Eindhoven")),
    ("BE", 16, ("NV", "BV", "SRL"), ("Brussels", "Antwerp", "Ghent", "Liège")),
    ("IT", 27, ("S.p.A.", "S.r.l."), ("Milano", "Roma", "Torino", "Bologna", "Napoli")),
    ("ES", 24, ("S.A.", "S.L."), ("Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao")),
    ("PT", 25, ("Lda", "S.A."), ("Lisboa", "Porto", "Braga")),
    ("PL", 28, ("Sp. z o.o.", "S.A."), ("Warszawa", "Kraków", "Wrocław", "Gdańsk", "Poznań")),
    ("CZ", 24, ("s.r.o.", "a.s."), ("Praha", "Brno", "Ostrava")),
    ("AT", 20, ("GmbH", "AG"), ("Wien", "Graz", "Linz", "Salzburg")),
    ("CH", 21, ("AG", "GmbH", "SA"), ("Zürich", "Genève", "Basel", "Bern", "Lausanne")),
    ("SE", 24, ("AB",), ("Stockholm", "Göteborg", "Malmö", "Uppsala")),
    ("DK", 18, ("A/S", "ApS"), ("København", "Aarhus", "Odense")),
    ("NO", 15, ("AS", "ASA"), ("Oslo", "Bergen", "Trondheim")),
    ("FI", 18, ("Oy", "Oyj"), ("Helsinki", "Espoo", "Tampere")),
    ("IE", 22, ("Ltd", "DAC"), ("Dublin", "Cork", "Galway")),
    ("JP", 22, ("K.K.", "G.K."), ("Tokyo", "Osaka", "Nagoya", "Yokohama")),
    ("CA", 22, ("Inc.", "Ltd"), ("Toronto", "Montréal", "Vancouver", "Calgary")),
)
_NAME_STEMS = (
    "Acme", "Northwind", "Contoso", "Globex", "Initech", "Umbrella", "Vandelay", "Soylent",
    "Hooli", "Wonka", "Stark", "Wayne", "Tyrell", "Cyberdyne", "Gringotts", "Aperture",
    "Müller", "Schmidt", "Dupont", "Lefèvre", "Rossi", "García", "Novák", "Kowalski",
    "Jansen", "Nielsen", "Andersson", "Silva", "Papadopoulos", "O'Brien", "Tanaka", "Dubois",
    "Blue Anchor", "Red Kite", "Silver Birch", "Iron Gate", "North Star", "Green Valley",
    "Smith, Jones & Co", "Hart & Sons", 'The "Golden" Key', "Atlas", "Orion", "Zenith",
    "Polar", "Summit", "Harbor", "Meridian",
)  # fmt: skip
_NAME_TRADES = (
    "Trading", "Global Logistics", "Industrial Supplies", "Office Supply", "Auto Components",
    "Fine Foods", "Textiles", "Consumer Electronics", "Metals", "Specialty Chemicals",
    "Packaging", "Management Consulting", "Engineering", "Facility Services", "Control Systems",
    "IT Solutions", "Distribution", "Precision Manufacturing", "Holdings", "Imports",
    "Power Tools", "Building Materials", "Renewable Energy", "Plastics", "Paper Products",
    "Freight Forwarding", "Machinery", "Pharma", "Office Furniture", "Automotive",
    "Software", "Medical Devices",
)  # fmt: skip
_ONBOARDED_FROM, _ONBOARDED_TO = dt.date(2005, 1, 1), dt.date(2023, 12, 31)
_UPDATED_FROM, _UPDATED_TO = dt.date(2024, 1, 1), dt.date(2025, 6, 30)
_CREDIT_LIMITS = tuple(str(i * 500) for i in range(4001))  # 0 to 2,000,000 in steps of 500
_RATINGS = tuple(f"{i // 100}.{i % 100:02d}" for i in range(501))  # 0.00 to 5.00
_N_CREDIT_LIMITS, _N_RATINGS = len(_CREDIT_LIMITS), len(_RATINGS)
_TWO_DIGITS = tuple(f"{i:02d}" for i in range(100))
_HOURS = _TWO_DIGITS[:24]
_MINUTES_SECONDS = tuple(f"{s // 60:02d}:{s % 60:02d}" for s in range(3600))
_EMPTY_CITY, _EMPTY_IBAN, _EMPTY_RATING, _ACTIVE = 0.01, 0.02, 0.03, 0.93


@dataclass(frozen=True)
class Counts:
    """The exact shape of a generated data set, for checking what an engine reports."""

    initial_rows: int
    next_rows: int
    new_rows: int
    changed_rows: int
    unchanged_rows: int
    delete_keys: int


def csv_text(value: str) -> str:
    """`value` as one CSV field: quoted only when it holds a comma, a quote or a line break."""
    if any(c in value for c in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _dates(first: dt.date, last: dt.date) -> tuple[str, ...]:
    return tuple(
        dt.date.fromordinal(d).isoformat() for d in range(first.toordinal(), last.toordinal() + 1)
    )


def _country_number(code: str) -> int:
    """The IBAN check-digit number of a country code (A=10, B=11, ... Z=35)."""
    return int("".join(str(ord(c) - ord("A") + 10) for c in code))


# Per country: the IBAN check-digit number, and the bounds of its BBAN (IBAN minus 4 characters).
_COUNTRY_NUMBERS = {code: _country_number(code) for code, _, _, _ in _COUNTRIES}
_BBAN_BOUNDS = {
    code: (10 ** (length - 5), 9 * 10 ** (length - 5)) for code, length, _, _ in _COUNTRIES
}


class _Vendors:
    """Draws vendor rows (as lists of CSV field texts) from one seeded random generator."""

    def __init__(self, rng: random.Random) -> None:
        self._random = rng.random
        self._bits = rng.getrandbits
        self._sample = rng.sample
        stems = [f"{stem} {trade}" for stem in _NAME_STEMS for trade in _NAME_TRADES]
        self._names = {
            code: tuple(csv_text(f"{s} {forms[i % len(forms)]}") for i, s in enumerate(stems))
            for code, _, forms, _ in _COUNTRIES
        }
        # (country, city, the country's vendor names), one entry per city.
        self._locations = [
            (code, csv_text(city), self._names[code])
            for code, _, _, cities in _COUNTRIES
            for city in cities
        ]
        self._onboarded = _dates(_ONBOARDED_FROM, _ONBOARDED_TO)
        self._updated_days = _dates(_UPDATED_FROM, _UPDATED_TO)
        self._n_locations = len(self._locations)
        self._n_names = len(stems)
        self._n_onboarded = len(self._onboarded)
        self._n_updated_days = len(self._updated_days)
        # Which columns a change can touch: (label, mutator). Country and city move together.
        self._mutators: tuple[tuple[str, Callable[[list[str]], None]], ...] = (
            ("name", self._change_name),
            ("location", self._change_location),
            ("iban", self._change_iban),
            ("credit_limit", self._change_credit_limit),
            ("rating", self._change_rating),
            ("active", self._change_active),
            ("onboarded", self._change_onboarded),
            ("updated_at", self._change_updated_at),
        )

    def pick(self, n: int) -> int:
        """A number in [0, n)."""
        return int(self._random() * n)

    def row(self, vendor_id: str) -> list[str]:
        """A fresh vendor with this key. (The hot path: the draws are inlined.)"""
        rnd = self._random
        country, city, names = self._locations[int(rnd() * self._n_locations)]
        if rnd() < _EMPTY_IBAN:
            iban = ""
        else:  # as _iban()
            low, span = _BBAN_BOUNDS[country]
            bban = low + self._bits(90) % span
            check = 98 - (bban * 1_000_000 + _COUNTRY_NUMBERS[country] * 100) % 97
            iban = country + _TWO_DIGITS[check] + str(bban)
        updated_day = self._updated_days[int(rnd() * self._n_updated_days)]
        return [
            vendor_id,
            names[int(rnd() * self._n_names)],
            country,
            "" if rnd() < _EMPTY_CITY else city,
            iban,
            _CREDIT_LIMITS[int(rnd() * _N_CREDIT_LIMITS)],
            "" if rnd() < _EMPTY_RATING else _RATINGS[int(rnd() * _N_RATINGS)],
            "true" if rnd() < _ACTIVE else "false",
            self._onboarded[int(rnd() * self._n_onboarded)],
            f"{updated_day}T{_HOURS[int(rnd() * 24)]}:{_MINUTES_SECONDS[int(rnd() * 3600)]}Z",
        ]

    def sample(self, population: range, k: int) -> list[int]:
        """`k` distinct members of `population`."""
        return self._sample(population, k)

    def change(self, row: list[str]) -> list[str]:
        """A copy of `row` with one to three non-key columns given a different value."""
        changed = list(row)
        for _, mutate in self._sample(self._mutators, 1 + self.pick(3)):
            mutate(changed)
        return changed

    # Value draws ---------------------------------------------------------------------------

    def _iban(self, country: str) -> str:
        """An IBAN-like account number of that country (valid check digits), or empty."""
        if self._random() < _EMPTY_IBAN:
            return ""
        low, span = _BBAN_BOUNDS[country]
        bban = low + self._bits(90) % span  # digits only, the first not 0
        check = 98 - (bban * 1_000_000 + _COUNTRY_NUMBERS[country] * 100) % 97
        return country + _TWO_DIGITS[check] + str(bban)

    def _credit_limit(self) -> str:
        return _CREDIT_LIMITS[self.pick(_N_CREDIT_LIMITS)]

    def _rating(self) -> str:
        return "" if self._random() < _EMPTY_RATING else _RATINGS[self.pick(_N_RATINGS)]

    def _updated_at(self) -> str:
        day = self._updated_days[self.pick(self._n_updated_days)]
        return f"{day}T{_HOURS[self.pick(24)]}:{_MINUTES_SECONDS[self.pick(3600)]}Z"

    # Changes: each leaves the column(s) with a value whose text (hence typed value) differs ----

    def _redraw(self, row: list[str], column: int, draw: Callable[[], str]) -> None:
        old = row[column]
        while (value := draw()) == old:
            pass
        row[column] = value

    def _change_name(self, row: list[str]) -> None:
        names = self._names[row[2]]
        self._redraw(row, 1, lambda: names[self.pick(self._n_names)])

    def _change_location(self, row: list[str]) -> None:
        old = (row[2], row[3])
        while True:
            country, city, _ = self._locations[self.pick(self._n_locations)]
            if self._random() < _EMPTY_CITY:
                city = ""
            if (country, city) != old:
                row[2], row[3] = country, city
                return

    def _change_iban(self, row: list[str]) -> None:
        self._redraw(row, 4, lambda: self._iban(row[2]))

    def _change_credit_limit(self, row: list[str]) -> None:
        self._redraw(row, 5, self._credit_limit)

    def _change_rating(self, row: list[str]) -> None:
        self._redraw(row, 6, self._rating)

    def _change_active(self, row: list[str]) -> None:
        row[7] = "false" if row[7] == "true" else "true"

    def _change_onboarded(self, row: list[str]) -> None:
        self._redraw(row, 8, lambda: self._onboarded[self.pick(self._n_onboarded)])

    def _change_updated_at(self, row: list[str]) -> None:
        self._redraw(row, 9, self._updated_at)


def delete_count(rows: int) -> int:
    """How many keys the delete file holds: 10,000, or 1% of the rows for small sizes."""
    return max(1, min(MAX_DELETE_KEYS, rows // 100))


def expected_counts(rows: int) -> Counts:
    """The counts `generate(rows, …)` produces (they depend on `rows` only)."""
    full, rest = divmod(rows, BLOCK_ROWS)
    new = full + (1 if rest else 0)
    changed = full * CHANGED_PER_BLOCK + min(CHANGED_PER_BLOCK, rest)
    return Counts(
        initial_rows=rows,
        next_rows=rows + new,
        new_rows=new,
        changed_rows=changed,
        unchanged_rows=rows - changed,
        delete_keys=delete_count(rows),
    )


def _manifest_path(out_dir: Path) -> Path:
    return out_dir / MANIFEST_FILE


def _paths(out_dir: Path) -> tuple[Path, Path, Path]:
    return out_dir / INITIAL_FILE, out_dir / NEXT_FILE, out_dir / DELETE_FILE


def load_manifest(out_dir: Path) -> dict[str, Any] | None:
    """The manifest of the data set in `out_dir`, or None when there is none (or it is broken)."""
    try:
        manifest = json.loads(_manifest_path(out_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def read_counts(out_dir: Path) -> Counts:
    """The counts recorded in `out_dir`'s manifest."""
    manifest = load_manifest(out_dir)
    if manifest is None:
        raise FileNotFoundError(f"no data set generated in {out_dir}")
    return Counts(**manifest["counts"])


def is_current(rows: int, out_dir: Path, seed: int = 42) -> bool:
    """True when `out_dir` already holds the data set for these parameters, files complete."""
    manifest = load_manifest(out_dir)
    if manifest is None or manifest.get("parameters") != _parameters(rows, seed):
        return False
    sizes = manifest.get("files", {})
    names = (*(p.name for p in _paths(out_dir)), SCHEMA_FILE)
    for name in names:
        path = out_dir / name
        if not path.is_file() or path.stat().st_size != sizes.get(name):
            return False
    return True


def _parameters(rows: int, seed: int) -> dict[str, int]:
    return {"generator": GENERATOR_VERSION, "rows": rows, "seed": seed}


@dataclass(frozen=True)
class _ChunkTask:
    """One independently seeded slice of the data set: old rows [first, last)."""

    seed: int
    index: int
    first: int
    last: int
    key_format: str
    delete_rows: tuple[int, ...]  # the indices (in the whole data set) of rows whose key to delete


def _make_chunk(task: _ChunkTask) -> tuple[bytes, bytes, list[str]]:
    """The chunk's initial lines, next-snapshot lines (UTF-8) and keys to delete."""
    vendors = _Vendors(random.Random(f"vendors:{task.seed}:{task.index}"))
    key_format = task.key_format
    to_delete = iter(task.delete_rows)
    next_delete = next(to_delete, -1)
    delete_keys: list[str] = []
    initial_lines: list[str] = []
    next_lines: list[str] = []
    for first in range(task.first, task.last, BLOCK_ROWS):
        size = min(BLOCK_ROWS, task.last - first)
        base = first // BLOCK_ROWS * (BLOCK_ROWS + 1) + 1  # first key number of the block
        new_slot = vendors.pick(size + 1)  # the key number kept for the next snapshot
        numbers = [*range(base, base + new_slot), *range(base + new_slot + 1, base + size + 1)]
        block = [vendors.row(key_format % number) for number in numbers]
        lines = [",".join(row) + "\n" for row in block]
        initial_lines += lines
        for j in vendors.sample(range(size), min(CHANGED_PER_BLOCK, size)):
            lines[j] = ",".join(vendors.change(block[j])) + "\n"
        lines.insert(new_slot, ",".join(vendors.row(key_format % (base + new_slot))) + "\n")
        next_lines += lines
        while first <= next_delete < first + size:
            delete_keys.append(block[next_delete - first][0])
            next_delete = next(to_delete, -1)
    return "".join(initial_lines).encode(), "".join(next_lines).encode(), delete_keys


def _in_order(tasks: list[_ChunkTask], processes: int) -> Iterator[tuple[bytes, bytes, list[str]]]:
    """The chunks, made by up to `processes` worker processes, yielded in order; at most
    `processes + 1` chunks are in flight, so memory stays flat."""
    if processes <= 1 or len(tasks) <= 1:
        yield from map(_make_chunk, tasks)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        pending: deque[Future[tuple[bytes, bytes, list[str]]]] = deque()
        for task in tasks:
            pending.append(pool.submit(_make_chunk, task))
            if len(pending) > processes:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def generate(
    rows: int, out_dir: Path, seed: int = 42, *, processes: int | None = None
) -> tuple[Path, Path, Path]:
    """Write the data set for `rows` and `seed` into `out_dir` unless it is already there.

    Returns the paths of the initial snapshot, the next snapshot and the delete-keys file.
    The rows are made in chunks of CHUNK_ROWS, each from its own seeded generator, by up to
    `processes` processes (default: the CPU count, at most 4); the bytes do not depend on it.
    """
    if rows < 1:
        raise ValueError("rows must be at least 1")
    out_dir.mkdir(parents=True, exist_ok=True)
    initial_path, next_path, delete_path = _paths(out_dir)
    if is_current(rows, out_dir, seed):
        return initial_path, next_path, delete_path
    _manifest_path(out_dir).unlink(missing_ok=True)

    counts = expected_counts(rows)
    delete_rows = sorted(random.Random(f"delete:{seed}").sample(range(rows), counts.delete_keys))
    width = max(7, len(str(math.ceil(rows / BLOCK_ROWS) * (BLOCK_ROWS + 1))))
    tasks = []
    for index, first in enumerate(range(0, rows, CHUNK_ROWS)):
        last = min(rows, first + CHUNK_ROWS)
        lo, hi = bisect.bisect_left(delete_rows, first), bisect.bisect_left(delete_rows, last)
        tasks.append(
            _ChunkTask(seed, index, first, last, f"V%0{width}d", tuple(delete_rows[lo:hi]))
        )
    if processes is None:
        processes = min(4, os.cpu_count() or 1)

    header = (",".join(COLUMNS) + "\n").encode()
    delete_keys: list[str] = []
    tmp_initial, tmp_next = _tmp(initial_path), _tmp(next_path)
    with tmp_initial.open("wb") as initial_out, tmp_next.open("wb") as next_out:
        initial_out.write(header)
        next_out.write(header)
        for initial_bytes, next_bytes, keys in _in_order(tasks, processes):
            initial_out.write(initial_bytes)
            next_out.write(next_bytes)
            delete_keys += keys

    if len(delete_keys) != counts.delete_keys:  # pragma: no cover - a bug in this module
        raise AssertionError("generated counts differ from expected_counts()")
    tmp_delete = _tmp(delete_path)
    tmp_delete.write_text("vendor_id\n" + "".join(f"{k}\n" for k in delete_keys), "utf-8")
    schema_path = out_dir / SCHEMA_FILE
    schema_path.write_text(json.dumps(SCHEMA, indent=2) + "\n", encoding="utf-8")
    for tmp, final in (tmp_initial, initial_path), (tmp_next, next_path), (tmp_delete, delete_path):
        os.replace(tmp, final)

    manifest = {
        "parameters": _parameters(rows, seed),
        "counts": asdict(counts),
        "files": {p.name: p.stat().st_size for p in (*_paths(out_dir), schema_path)},
    }
    tmp_manifest = _tmp(_manifest_path(out_dir))
    tmp_manifest.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp_manifest, _manifest_path(out_dir))
    return initial_path, next_path, delete_path


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")
