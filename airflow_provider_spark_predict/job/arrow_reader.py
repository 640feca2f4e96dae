"""The ``pyarrow`` reader of the ``map`` strategy: Python workers read the input parquet/ORC files themselves.

Why: with Spark's reader, the JVM decodes the parquet pages into rows and converts every feature column
of every row back to Arrow for the Python worker. On wide inputs (100 float features) that costs more
CPU than a fast model, and on a 2-core executor it runs on the same cores as the model. Here Spark only
plans and distributes *splits* (byte ranges of the input files, packed into tasks the way Spark packs
``FilePartition``\\ s); each Python worker opens its files with pyarrow, reads only the key and feature
columns of the row groups whose middle falls in its byte range (the rule of Spark's parquet reader, so
every row group is read exactly once however the files are cut), and hands back only keys + outputs.
ORC files are read the same way, with stripes for row groups: a split reads the stripes that *start* in
its byte range (ORC's own rule, :mod:`.orc_stripes`).

Used only when it gives the same rows and values as Spark's read + ``reader.cast_features``: a plain
parquet or ORC partition (no query, no filter), numeric/boolean features (also strings for ``frame``
models), plain key columns (:func:`unsupported_reason`), and the executors can open every input file's
footer with pyarrow (:func:`read_footers`, which also counts the rows: e.g. executors without
libhdfs/``CLASSPATH`` for ``hdfs://`` cannot).

Memory of a Python worker: one row group (ORC: one stripe) of the selected columns, decoded (read whole, then sliced into
``batch_rows`` batches; a row group larger than :data:`WHOLE_ROW_GROUP_BYTES` is streamed in batches),
plus one batch's feature matrix, whatever the partition size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: a row group whose selected columns decode to more than this is streamed batch by batch, not read whole
WHOLE_ROW_GROUP_BYTES = 256 * 1024 * 1024
#: file formats the pyarrow reader reads
FORMATS = ("parquet", "orc")
#: threads per footer task: opening a footer is mostly waiting on the storage (a namenode, an object store)
FOOTER_THREADS = 8


@dataclass(frozen=True)
class Split:
    """A byte range of one input file; its rows are the row groups whose middle byte is in the range.

    :param file: index in the job's file list
    :param start: first byte
    :param length: number of bytes
    """

    file: int
    start: int
    length: int


def unsupported_reason(types: dict[str, str], keys: list[str], features: list[str],
                       input_kind: str = "matrix", file_format: str = "parquet") -> str | None:
    """Why the pyarrow reader cannot replace Spark's read for these columns (``None``: it can).

    Reading the files in the Python workers gives the same values as Spark's read only when every feature
    is numeric or boolean (``matrix`` models: no ``try_cast`` of strings), or also a string (``frame``
    models get strings as they are), and keys are plain columns of the files (not partition columns,
    which live in the folder names). ORC timestamps are left to Spark's reader (its time-zone rules).

    :param types: ``dict(df.dtypes)`` of the input DataFrame read by Spark
    :param keys: key columns
    :param features: feature columns
    :param input_kind: the model's ``input_kind`` (``matrix`` or ``frame``)
    :param file_format: ``parquet`` or ``orc``
    """
    from airflow_provider_spark_predict.job.reader import NUMERIC_TYPES

    allowed = (*NUMERIC_TYPES, "string") if input_kind == "frame" else NUMERIC_TYPES
    bad = [f for f in features if types.get(f) not in allowed]
    if bad:
        kinds = "numeric/boolean/string" if input_kind == "frame" else "numeric/boolean"
        return f"feature column(s) {bad[:5]} are not {kinds}"
    odd_keys = [k for k in keys if types.get(k) is None or types[k].startswith(("struct", "map", "array"))]
    if odd_keys:
        return f"key column(s) {odd_keys} are missing or nested"
    if file_format == "orc":
        timestamps = [k for k in keys if types[k].startswith("timestamp")]
        if timestamps:
            return f"key column(s) {timestamps} are ORC timestamps"
    return None


def plan_tasks(sizes: list[int], max_partition_bytes: int, open_cost: int, parallelism: int) -> list[list[Split]]:
    """Cut the files into splits and pack the splits into tasks, like Spark's ``FilePartition`` planning.

    ``max_split = min(max_partition_bytes, max(open_cost, total / parallelism))`` with
    ``total = sum(size + open_cost)``; every file is cut into ranges of ``max_split`` bytes; the ranges,
    largest first, fill a task until the next one would exceed ``max_split`` (each range also counts
    ``open_cost``). Small inputs still get about ``parallelism`` tasks; big files get many.

    :param sizes: byte size of each input file (``Split.file`` indexes this list)
    :param max_partition_bytes: ``spark.sql.files.maxPartitionBytes``
    :param open_cost: ``spark.sql.files.openCostInBytes``
    :param parallelism: ``sparkContext.defaultParallelism``
    """
    total = sum(s + open_cost for s in sizes)
    max_split = max(1, min(max_partition_bytes, max(open_cost, total // max(1, parallelism))))
    splits = [Split(i, start, min(max_split, size - start))
              for i, size in enumerate(sizes) for start in range(0, size, max_split)]
    splits.sort(key=lambda s: (-s.length, s.file, s.start))
    tasks: list[list[Split]] = []
    current: list[Split] = []
    current_size = 0
    for s in splits:
        if current and current_size + s.length > max_split:
            tasks.append(current)
            current, current_size = [], 0
        current.append(s)
        current_size += s.length + open_cost
    if current:
        tasks.append(current)
    return tasks


def row_groups_in_range(metadata: Any, start: int, length: int) -> list[int]:
    """Indexes of the row groups whose middle byte lies in ``[start, start + length)``.

    A row group starts at its first column chunk's dictionary page (or first data page) and spans the
    compressed size of its column chunks; splits that cover a file without overlap thus select every
    row group exactly once.

    :param metadata: ``pyarrow.parquet.FileMetaData``
    """
    picked = []
    for i in range(metadata.num_row_groups):
        rg = metadata.row_group(i)
        begin, size = None, 0
        for j in range(rg.num_columns):
            c = rg.column(j)
            first = c.data_page_offset
            if c.has_dictionary_page and c.dictionary_page_offset:
                first = min(first, c.dictionary_page_offset)
            begin = first if begin is None else min(begin, first)
            size += c.total_compressed_size
        mid = (begin or 0) + size // 2
        if start <= mid < start + length:
            picked.append(i)
    return picked


def open_file(uri: str) -> Any:
    """Open ``uri`` (``file:``, ``hdfs://``, ``s3://``... as pyarrow's filesystems know it, or a local
    path) for random access."""
    from pyarrow import fs as pafs

    if "://" in uri or uri.startswith("file:"):
        if uri.startswith("file:") and not uri.startswith("file://"):
            uri = "file://" + uri[len("file:"):]
        filesystem, path = pafs.FileSystem.from_uri(uri)
    else:
        filesystem, path = pafs.LocalFileSystem(), uri
    return filesystem.open_input_file(path)


def open_reader(fh: Any, file_format: str) -> tuple[Any, list[str]]:
    """``(pyarrow.parquet.ParquetFile or pyarrow.orc.ORCFile, column names)`` of an open input file
    (reads its footer).

    :param fh: the open file
    :param file_format: ``parquet`` or ``orc``
    """
    if file_format == "orc":
        import pyarrow.orc as po

        orc = po.ORCFile(fh)
        return orc, list(orc.schema.names)
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(fh)
    return pf, list(pf.schema_arrow.names)


def _parquet_parts(pf: Any, names: list[str], batch_rows: int, start: int, length: int | None) -> Any:
    """Record batches of the columns ``names`` of the parquet row groups of ``pf`` in the byte range."""
    md = pf.metadata
    groups = range(md.num_row_groups) if length is None else row_groups_in_range(md, start, length)
    selected = set(names)
    for g in groups:
        rg = md.row_group(g)
        decoded = sum(rg.column(j).total_uncompressed_size for j in range(rg.num_columns)
                      if rg.column(j).path_in_schema in selected)
        if decoded <= WHOLE_ROW_GROUP_BYTES:  # one read of the row group, sliced without copies
            yield from pf.read_row_group(g, columns=names, use_threads=False).to_batches(batch_rows)
        else:
            yield from pf.iter_batches(batch_size=batch_rows, row_groups=[g], columns=names, use_threads=False)


def _orc_parts(orc: Any, names: list[str], batch_rows: int, start: int, length: int | None) -> Any:
    """Record batches of the columns ``names`` of the ORC stripes of ``orc`` that start in the byte range
    (:func:`.orc_stripes.stripes_in_range`), each stripe read whole and sliced without copies."""
    from airflow_provider_spark_predict.job.orc_stripes import stripes_in_range, stripes_of_tail

    stripes = (range(orc.nstripes) if length is None
               else stripes_in_range(stripes_of_tail(orc.reader.serialized_file_tail()), start, length))
    for s in stripes:
        batch = orc.read_stripe(s, columns=names)
        for offset in range(0, batch.num_rows, batch_rows):
            yield batch.slice(offset, batch_rows)


def read_batches(uri: str, keys: list[str], features: list[str], batch_rows: int,
                 start: int = 0, length: int | None = None, file_format: str = "parquet") -> Any:
    """Yield record batches of ``keys + features`` (in that order, named ``c0, c1, ...``) of the row groups
    (parquet) or stripes (ORC) of ``uri`` selected by the byte range (the whole file by default), at most
    ``batch_rows`` rows each, reading only those columns, single-threaded (the task owns one core).

    Column names match case-insensitively, like Spark's parquet and ORC readers. A feature missing from
    the file (schema evolution) is all null; a missing key is an error naming the file.

    :param uri: file URI or local path
    :param batch_rows: rows per batch
    :param start: first byte of the split
    :param length: bytes of the split; ``None``: to the end of the file
    :param file_format: ``parquet`` or ``orc`` (:data:`FORMATS`)
    """
    import pyarrow as pa

    if file_format not in FORMATS:
        raise ValueError(f"the pyarrow reader reads {FORMATS}, not {file_format!r} ({uri})")
    with open_file(uri) as fh:
        source, columns = open_reader(fh, file_format)
        names = {n.lower(): n for n in columns}
        missing_keys = [k for k in keys if k.lower() not in names]
        if missing_keys:
            raise ValueError(f"input file {uri} has no key column(s) {missing_keys}")
        wanted = keys + features
        read_cols = list(dict.fromkeys(names[c.lower()] for c in wanted if c.lower() in names))
        parts = _orc_parts if file_format == "orc" else _parquet_parts
        for batch in parts(source, read_cols, batch_rows, start, length):
            n = batch.num_rows
            index = {name.lower(): j for j, name in enumerate(batch.schema.names)}
            arrays = [batch.column(index[c.lower()]) if c.lower() in index else pa.nulls(n, pa.float64())
                      for c in wanted]
            yield pa.RecordBatch.from_arrays(arrays, names=[f"c{j}" for j in range(len(wanted))])


def footer_facts(fh: Any, file_format: str) -> tuple[list[str], int]:
    """``(column names, rows)`` of an open input file from its footer. For ORC also checks that the
    stripes' start offsets can be read from the file tail (the split rule needs them) and add up to the
    file's rows.

    :param fh: the open file
    :param file_format: ``parquet`` or ``orc``
    """
    source, names = open_reader(fh, file_format)
    if file_format != "orc":
        return names, int(source.metadata.num_rows)
    from airflow_provider_spark_predict.job.orc_stripes import stripes_of_tail

    stripes = stripes_of_tail(source.reader.serialized_file_tail())
    rows = sum(s.rows for s in stripes)
    if len(stripes) != source.nstripes or rows != source.nrows:
        raise ValueError(f"the ORC file tail lists {len(stripes)} stripes of {rows} rows, "
                         f"the reader {source.nstripes} stripes of {source.nrows} rows")
    return names, int(source.nrows)


@dataclass(frozen=True)
class Footers:
    """What the footer job found.

    :param reason: ``None`` when every footer opened, else why not, naming the file
    :param rows: the files' rows, summed (0 when ``reason``)
    :param sizes: each file's byte size, in the order of the files (empty when ``reason``)
    """

    reason: str | None
    rows: int = 0
    sizes: list[int] = field(default_factory=list)


def read_footers(spark: Any, files: list[str], columns: list[str] | None = None,
                 file_format: str = "parquet") -> Footers:
    """Open every input file's footer (parquet footer, ORC file tail) with pyarrow on the executors, in
    one Spark job.

    This is both the check that the Python workers can read the files themselves (e.g. ``hdfs://``
    needs libhdfs and the Hadoop jars on the executors) and the partition's row count, taken from the
    footers, so the job needs no separate ``df.count()`` (for plain parquet/ORC files without a filter it
    is the same number); it also gives the file sizes the splits are planned on (no listing on the
    driver). The files are spread over up to ``defaultParallelism`` tasks; each task opens its files
    from :data:`FOOTER_THREADS` threads (opening a footer is mostly waiting on the storage).

    :param files: the input files
    :param columns: columns every file must hold (the keys; a missing feature reads as null, like Spark)
    :param file_format: ``parquet`` or ``orc``
    """
    if not files:
        return Footers(None)
    wanted = list(columns or [])

    def open_footer(i: int) -> tuple[int, int, int, str]:
        n, size, error = 0, 0, ""
        try:
            with open_file(files[i]) as fh:
                size = int(fh.size())
                names, n = footer_facts(fh, file_format)
            lower = {c.lower() for c in names}
            missing = [c for c in wanted if c.lower() not in lower]
            error = f"column(s) {missing[:5]} are not in the file" if missing else ""
        except Exception as err:  # noqa: BLE001 - any failure means "use Spark's reader"
            error = f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}"[:500]
        return i, n, size, error

    def open_footers(batches: Any) -> Any:
        from concurrent.futures import ThreadPoolExecutor

        import pyarrow as pa

        for ids in batches:
            with ThreadPoolExecutor(FOOTER_THREADS) as pool:
                got = list(pool.map(open_footer, ids.column(0).to_pylist()))
            yield pa.RecordBatch.from_arrays([pa.array([g[j] for g in got], pa.int64()) for j in range(3)]
                                             + [pa.array([g[3] for g in got], pa.string())],
                                             names=["file", "rows", "size", "error"])

    tasks = max(1, min(len(files), spark.sparkContext.defaultParallelism))
    ids = spark.range(0, len(files), 1, numPartitions=tasks)
    got = sorted(ids.mapInArrow(open_footers, "file long, rows long, size long, error string").collect(),
                 key=lambda r: r["file"])
    if [r["file"] for r in got] != list(range(len(files))):
        return Footers(f"the footer tasks returned {len(got)} results for {len(files)} files")
    for r in got:
        if r["error"]:
            return Footers(f"{files[r['file']]}: {r['error']}")
    return Footers(None, sum(r["rows"] for r in got), [r["size"] for r in got])


def use_system_allocator() -> None:
    """Make glibc's malloc the default Arrow memory pool of this Python worker, unless the user chose one
    (``ARROW_DEFAULT_MEMORY_POOL``).

    Measured on the throughput benchmark's files: reading the row groups with pyarrow's default pool
    (mimalloc, which hands freed pages back to the OS and faults them in again for the next row group)
    took about twice the CPU of the system allocator, at the same peak RSS.
    """
    import os

    import pyarrow as pa

    if "ARROW_DEFAULT_MEMORY_POOL" not in os.environ and pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())
