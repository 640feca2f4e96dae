"""Label maps as people write them: one canonical form of a class value, used by every engine.

``label_mapping`` keys ``0``, ``"0"``, ``"0.0"`` and ``0.0`` all mean class 0; a string class label
(``"cat"``) maps by its own value. Pure Python (no numpy): imported on the Airflow side by the spec and
the checks, and by the job on executors.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from airflow_provider_spark_predict.exceptions import SpecError


def class_key(value: Any) -> str:
    """The canonical text of a class value: an integral number (``0``, ``0.0``, ``"0"``, ``"0.0"``,
    ``numpy.int64(0)``) becomes ``"0"``; any other value is its ``str()`` (``"cat"``, ``"0.5"``, ``"True"``).

    :param value: a class value as the model predicts it, or a key as a user wrote it
    """
    if isinstance(value, bool):
        return str(value)
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()  # numpy scalar -> Python scalar
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if math.isfinite(value) and value.is_integer() else str(value)
    text = str(value)
    stripped = text.strip()
    try:
        number = float(stripped)
    except ValueError:
        return text
    if math.isfinite(number) and number.is_integer() and stripped.lstrip("+-").replace(".", "", 1).isdigit():
        return str(int(number))
    return text


def normalise_label_mapping(mapping: Mapping[Any, Any] | None) -> dict[str, str] | None:
    """Return ``mapping`` with canonical keys (:func:`class_key`) and string values.

    :param mapping: class value -> business name, keys written in any of the accepted forms
    :raises SpecError: two keys mean the same class but name different labels
    """
    if mapping is None:
        return None
    out: dict[str, str] = {}
    written: dict[str, Any] = {}
    for key, label in mapping.items():
        canon = class_key(key)
        text = str(label)
        if canon in out and out[canon] != text:
            raise SpecError(
                f"label_mapping keys {written[canon]!r} and {key!r} both mean class {canon} "
                f"but name different labels ({out[canon]!r}, {text!r})"
            )
        out[canon] = text
        written[canon] = key
    return out


def label_for(mapping: Mapping[str, str] | None, class_value: Any) -> str | None:
    """The business label of ``class_value`` in a :func:`normalise_label_mapping` mapping, or ``None``.

    :param mapping: normalised mapping (canonical keys)
    :param class_value: a predicted class (int, float, string or numpy scalar)
    """
    if not mapping:
        return None
    return mapping.get(class_key(class_value))


def labels_of(mapping: Mapping[str, str] | None, classes: Iterable[Any]) -> list[str | None]:
    """The label of every class of a model, in class order (``None`` where the mapping has none): index a
    numpy array of these with the predicted class index to label a whole batch without per-row Python."""
    return [label_for(mapping, c) for c in classes]


def uncovered_classes(mapping: Mapping[str, str] | None, classes: Iterable[Any]) -> list[str]:
    """The classes (canonical text, sorted) that ``mapping`` gives no label: the ``labels`` check's fact
    ``uncovered_labels`` when computed over the predicted classes (e.g. the keys of ``class_counts``).

    :param mapping: normalised mapping
    :param classes: predicted class values (any form)
    """
    mapping = mapping or {}
    return sorted({class_key(c) for c in classes if c is not None and class_key(c) not in mapping})
