"""Where the stripes of an ORC file start: the input of the ``pyarrow`` reader's split rule for ORC.

``pyarrow.orc.ORCFile`` reads a stripe by number but does not say where it starts in the file. The
file tail it already parsed does (``ORCReader.serialized_file_tail()``: the ``FileTail`` protobuf of the
ORC spec, footer uncompressed), so this module reads the few fields it needs from those bytes:
``FileTail.footer (2) -> Footer.stripes (3) -> StripeInformation.offset (1) / numberOfRows (5)``.
No protobuf library is needed for that: varints and length-delimited fields only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


@dataclass(frozen=True)
class Stripe:
    """One stripe of an ORC file.

    :param offset: its first byte in the file
    :param rows: its number of rows
    """

    offset: int
    rows: int


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint in the ORC file tail")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """``(field number, value)`` of one protobuf message: an int for varints, bytes for the rest."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(data, pos)
            yield number, value
        elif wire == _LEN:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError("truncated field in the ORC file tail")
            yield number, data[pos:pos + size]
            pos += size
        elif wire in (_I64, _I32):
            width = 8 if wire == _I64 else 4
            yield number, data[pos:pos + width]
            pos += width
        else:
            raise ValueError(f"unsupported protobuf wire type {wire} in the ORC file tail")


def stripes_of_tail(tail: bytes) -> list[Stripe]:
    """The stripes listed in a serialized ORC ``FileTail``, in file order.

    :param tail: ``pyarrow.orc.ORCFile(...).reader.serialized_file_tail()``
    """
    stripes = []
    for number, footer in _fields(tail):
        if number != 2 or not isinstance(footer, bytes):
            continue
        for field_number, info in _fields(footer):
            if field_number != 3 or not isinstance(info, bytes):
                continue
            values = {n: v for n, v in _fields(info) if isinstance(v, int)}
            stripes.append(Stripe(offset=values.get(1, 0), rows=values.get(5, 0)))
    return stripes


def stripes_in_range(stripes: list[Stripe], start: int, length: int) -> list[int]:
    """Indexes of the stripes that start in ``[start, start + length)``: the rule of ORC's own reader
    (``Reader.options().range(start, length)``, which Spark's ORC reader uses for its file splits), so
    splits that cover a file without overlap select every stripe exactly once.

    :param stripes: :func:`stripes_of_tail`
    :param start: first byte of the split
    :param length: bytes of the split
    """
    return [i for i, s in enumerate(stripes) if start <= s.offset < start + length]
