"""Strict parser of the four official BAAC tables (2019 layout onwards) into typed polars frames.

The published files are UTF-8, ``;``-delimited, with every field double-quoted (numbers and empty
values too). Codes meaning "not filled in" are written ``" -1"`` (leading space), coordinates use
a decimal comma (``" -0,9644600000"``), ``id_vehicule`` holds a no-break space (``"201\u00a0764"``)
and text fields contain ``N/A``. Parsing is strict: a wrong delimiter, an encoding other than
UTF-8, a missing or renamed column or a value that does not fit its column type raises
:class:`BaacFormatError` naming the year, the file and the column. Nothing is dropped: every
column of the file is kept (text stays text, byte for byte), and values are only typed.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from accident_assets.france.layouts import TABLES, canonical_name, layout

# Column name -> polars type, in file order. Codes are small ints; anything that may hold letters
# (dep "2A", actp "B", com, voie, pr "(1)") or that is an identifier stays text.
CARACTERISTIQUES: dict[str, pl.DataType] = {
    "Num_Acc": pl.Int64(),
    "jour": pl.Int8(),
    "mois": pl.Int8(),
    "an": pl.Int16(),
    "hrmn": pl.Utf8(),
    "lum": pl.Int8(),
    "dep": pl.Utf8(),
    "com": pl.Utf8(),
    "agg": pl.Int8(),
    "int": pl.Int8(),
    "atm": pl.Int8(),
    "col": pl.Int8(),
    "adr": pl.Utf8(),
    "lat": pl.Float64(),
    "long": pl.Float64(),
}
LIEUX: dict[str, pl.DataType] = {
    "Num_Acc": pl.Int64(),
    "catr": pl.Int8(),
    "voie": pl.Utf8(),
    "v1": pl.Int16(),
    "v2": pl.Utf8(),
    "circ": pl.Int8(),
    "nbv": pl.Int16(),
    "vosp": pl.Int8(),
    "prof": pl.Int8(),
    "pr": pl.Utf8(),
    "pr1": pl.Utf8(),
    "plan": pl.Int8(),
    "lartpc": pl.Float64(),
    "larrout": pl.Float64(),
    "surf": pl.Int8(),
    "infra": pl.Int8(),
    "situ": pl.Int8(),
    "vma": pl.Int16(),
}
USAGERS: dict[str, pl.DataType] = {
    "Num_Acc": pl.Int64(),
    "id_usager": pl.Utf8(),
    "id_vehicule": pl.Utf8(),
    "num_veh": pl.Utf8(),
    "place": pl.Int8(),
    "catu": pl.Int8(),
    "grav": pl.Int8(),
    "sexe": pl.Int8(),
    "an_nais": pl.Int16(),
    "trajet": pl.Int8(),
    "secu1": pl.Int8(),
    "secu2": pl.Int8(),
    "secu3": pl.Int8(),
    "locp": pl.Int8(),
    "actp": pl.Utf8(),
    "etatp": pl.Int8(),
}
VEHICULES: dict[str, pl.DataType] = {
    "Num_Acc": pl.Int64(),
    "id_vehicule": pl.Utf8(),
    "num_veh": pl.Utf8(),
    "senc": pl.Int8(),
    "catv": pl.Int8(),
    "obs": pl.Int8(),
    "obsm": pl.Int8(),
    "choc": pl.Int8(),
    "manv": pl.Int8(),
    "motor": pl.Int8(),
    "occutc": pl.Int16(),
}
COLUMNS: dict[str, dict[str, pl.DataType]] = {
    "caracteristiques": CARACTERISTIQUES,
    "lieux": LIEUX,
    "usagers": USAGERS,
    "vehicules": VEHICULES,
}
# Columns some years lack (the 2021 usagers file has no id_usager) are per year in
# layouts.layout(year).optional; a missing optional column is added as nulls so that every year
# has the same schema.

# Spreadsheet error tokens found in some published years (e.g. nbv); they mean "no value".
NULL_TOKENS = ("#ERREUR", "#VALEURMULTI", "#VALEUR!", "N/A")
TEXT_NULL = ""  # an empty quoted field


class BaacFormatError(ValueError):
    """A BAAC file does not have the published format; the message names year, file and column."""


@dataclass(frozen=True)
class Where:
    year: int | str
    table: str
    filename: str

    def __str__(self) -> str:
        return f"BAAC {self.table} {self.year} ({self.filename})"


def default_filename(table: str, year: int | str) -> str:
    return canonical_name(table, year)


def read_table(
    data: bytes, table: str, year: int | str, filename: str | None = None
) -> pl.DataFrame:
    """Parse the bytes of one published file into a typed frame with the columns of ``table``."""
    if table not in COLUMNS:
        raise ValueError(f"unknown BAAC table {table!r}; expected one of {', '.join(TABLES)}")
    where = Where(year, table, filename or default_filename(table, year))
    text = _decode(data, where)
    _check_delimiter(text, where)
    raw = _read_bytes(data.removeprefix(b"\xef\xbb\xbf"), text, where)
    raw = _check_columns(raw, table, where)
    return _cast(raw, COLUMNS[table], where)


def _decode(data: bytes, where: Where) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise BaacFormatError(
            f"{where}: not UTF-8 (byte {data[err.start : err.start + 1]!r} at line {line}); "
            "BAAC files since 2019 are UTF-8 — was it re-saved in another encoding (latin-1, cp1252)?"
        ) from None
    return text.removeprefix("\ufeff")


def _check_delimiter(text: str, where: Where) -> None:
    header = text.split("\n", 1)[0]
    if not header.strip():
        raise BaacFormatError(f"{where}: the file is empty (no header line)")
    if ";" in header:
        return
    found = next(
        (name for sep, name in ((",", "','"), ("\t", "tab"), ("|", "'|'")) if sep in header), None
    )
    raise BaacFormatError(
        f"{where}: the header has no ';' delimiter"
        + (f" (it is {found}-delimited)" if found else "")
        + f"; header: {header[:120]!r}"
    )


def _read_bytes(data: bytes, text: str, where: Where) -> pl.DataFrame:
    try:
        frame = pl.read_csv(data, separator=";", quote_char='"', infer_schema=False)
    except pl.exceptions.PolarsError as err:
        # polars' own message names neither the line nor the column ("expected 1 rows, actual
        # 116 rows"): find the place ourselves, only on this failure path (a slow Python scan).
        place = locate_csv_error(text)
        detail = place or f"not a well-formed ';' CSV: {str(err).splitlines()[0]}"
        raise BaacFormatError(f"{where}: {detail}") from None
    # polars fills a row that is short of fields with nulls, silently; in files where every
    # field is quoted a null (not "") in the last column is the sign of one: find the line.
    if frame.width and frame.get_column(frame.columns[-1]).null_count():
        place = locate_csv_error(text)
        if place:
            raise BaacFormatError(f"{where}: {place}")
    # The header's names may carry stray whitespace, even a line break inside the quotes (the
    # 2024 vehicules header has "id_vehicule\n"): the names are compared stripped.
    return frame.rename({c: c.strip() for c in frame.columns if c != c.strip()})


def locate_csv_error(text: str) -> str | None:
    """Where a ';'-delimited, '"'-quoted text breaks: the line, column number and header name of
    a quote that closes mid-field, of a quote still open at the end of the file (blamed on the
    line where it opened) or of a record with the wrong number of fields. None when it parses."""
    header: list[str] = []
    fields: list[str] = []
    value: list[str] = []
    line, column, record_line = 1, 1, 1
    opened: tuple[int, int] | None = None  # (line, column) of the open quote
    i, n = 0, len(text)

    def name(col: int) -> str:
        return f" ({header[col - 1].strip()!r})" if 0 < col <= len(header) else ""

    while i < n:
        ch = text[i]
        if opened is not None:
            if ch == '"':
                if i + 1 < n and text[i + 1] == '"':
                    value.append('"')
                    i += 2
                    continue
                nxt = text[i + 1] if i + 1 < n else ""
                if nxt not in (";", "\n", "\r", ""):
                    return (
                        f"line {line}, column {column}{name(column)}: a quote closes the field "
                        f"opened at line {opened[0]} and is followed by {nxt!r} (an unescaped "
                        "quote inside a value, or a missing closing quote)"
                    )
                opened = None
            else:
                if ch == "\n":
                    line += 1
                value.append(ch)
            i += 1
            continue
        if ch == '"' and not value:
            opened = (line, column)
        elif ch == ";":
            fields.append("".join(value))
            value, column = [], column + 1
        elif ch == "\n" or ch == "\r":
            if ch == "\r" and i + 1 < n and text[i + 1] == "\n":
                i += 1
            fields.append("".join(value))
            if not header:
                header = fields
            elif len(fields) != len(header) and fields != [""]:
                return (
                    f"line {record_line}: {len(fields)} field(s) where the header has {len(header)}"
                )
            fields, value, column = [], [], 1
            line += 1
            record_line = line
        else:
            value.append(ch)
        i += 1
    if opened is not None:
        return (
            f"line {opened[0]}, column {opened[1]}{name(opened[1])}: the quote opened there never "
            "closes (the file ends inside it)"
        )
    if value or fields:
        fields.append("".join(value))
        if header and len(fields) != len(header):
            return f"line {record_line}: {len(fields)} field(s) where the header has {len(header)}"
    return None


def _check_columns(raw: pl.DataFrame, table: str, where: Where) -> pl.DataFrame:
    expected = list(COLUMNS[table])
    release = layout(where.year)
    optional = release.optional.get(table, frozenset())
    renames = {
        old: new
        for old, new in release.renames.get(table, {}).items()
        if old in raw.columns and new not in raw.columns
    }
    raw = raw.rename(renames)
    found = raw.columns
    missing = [c for c in expected if c not in found and c not in optional]
    unexpected = [c for c in found if c not in expected]
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(repr(c) for c in missing)}")
        if unexpected:
            parts.append(f"unexpected column(s) {', '.join(repr(c) for c in unexpected)}")
        hint = " (renamed?)" if missing and unexpected else ""
        raise BaacFormatError(
            f"{where}: {' and '.join(parts)}{hint}; expected {', '.join(expected)}"
        )
    absent = [pl.lit(None, pl.Utf8).alias(c) for c in expected if c not in found]
    return raw.with_columns(absent).select(expected)


def _typed(name: str, dtype: pl.DataType) -> pl.Expr:
    text = pl.col(name).str.strip_chars_start(" ")  # " -1": the published negative numbers
    if dtype.is_float():
        text = text.str.replace(",", ".", literal=True)
    return text.cast(dtype, strict=False)


def _unparsed(name: str, dtype: pl.DataType) -> pl.Expr:
    """Non-empty values that did not become a number (known spreadsheet error tokens aside)."""
    raw = pl.col(name)
    return (
        _typed(name, dtype).is_null()
        & raw.is_not_null()
        & (raw != TEXT_NULL)
        & ~raw.str.strip_chars().is_in(NULL_TOKENS)
    )


def _cast(raw: pl.DataFrame, columns: dict[str, pl.DataType], where: Where) -> pl.DataFrame:
    typed = [name for name, dtype in columns.items() if dtype != pl.Utf8]
    failures = raw.select(_unparsed(name, columns[name]).sum().alias(name) for name in typed).row(
        0, named=True
    )
    for name in typed:
        if failures[name]:
            bad = raw.filter(_unparsed(name, columns[name])).get_column(name)
            examples = bad.unique(maintain_order=True).head(5).to_list()
            raise BaacFormatError(
                f"{where}: column {name!r} expects {_type_word(columns[name])}; {bad.len()} "
                f"value(s) do not parse, e.g. {examples}"
            )
    # Text is kept as published; only an empty field becomes null.
    return raw.select(
        _typed(name, dtype).alias(name)
        if dtype != pl.Utf8
        else pl.when(pl.col(name) == TEXT_NULL).then(None).otherwise(pl.col(name)).alias(name)
        for name, dtype in columns.items()
    )


def _type_word(dtype: pl.DataType) -> str:
    return "decimal numbers (comma decimal)" if dtype.is_float() else "integer codes"
