"""Spark's cast of numbers to strings (what StringIndexer sees for a numeric input column)."""

from __future__ import annotations

import math
from decimal import Decimal


def double_to_string(x: float, single: bool = False) -> str:
    """Format a double like ``java.lang.Double.toString`` (Spark's ``CAST(double AS STRING)``).

    Decimal notation for ``1e-3 <= |x| < 1e7``, otherwise ``d.dddE±n``. The digits are the shortest
    round-trip digits (Python's ``repr``); JDK 19+ prints the same, older JDKs differ on rare values.

    :param x: the value.
    :param single: format as a 32-bit float (``Float.toString``, Spark's ``CAST(float AS STRING)``).
    :return: the Java text.
    """
    if x != x:
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0.0:
        return "-0.0" if math.copysign(1.0, x) < 0 else "0.0"
    a = abs(x)
    shortest = repr(x)
    if single:
        import numpy as np

        shortest = np.format_float_scientific(np.float32(x), unique=True)
    if 1e-3 <= a < 1e7:
        text = format(Decimal(shortest).normalize(), "f")
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(shortest).normalize().as_tuple()
    assert isinstance(exponent, int)
    ds = "".join(str(d) for d in digits)
    exp10 = len(ds) - 1 + exponent
    mantissa = ds[0] + "." + (ds[1:] or "0")
    return ("-" if sign else "") + mantissa + "E" + str(exp10)


def value_to_string(value: object, spark_type: str | None = None) -> str:
    """Cast a Python scalar to Spark's string form.

    :param value: str, bool, int or float (not None).
    :param spark_type: the column's Spark type, when known (``float`` formats as 32-bit).
    :return: the string.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return double_to_string(value, single=spark_type == "float")
    return str(value)
