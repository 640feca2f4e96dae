"""Small helpers over Hadoop's FileSystem through the JVM (works for file://, hdfs://, s3a://, ...)."""

from __future__ import annotations

from typing import Any

from airflow_provider_spark_predict.run.lock import create_local_exclusive


class HadoopFS:
    """File operations on the driver through ``org.apache.hadoop.fs.FileSystem``.

    :param spark: the active SparkSession
    """

    def __init__(self, spark: Any) -> None:
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()

    def _path(self, uri: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(uri)

    def _fs(self, uri: str) -> Any:
        return self._path(uri).getFileSystem(self._conf)

    def exists(self, uri: str) -> bool:
        return bool(self._fs(uri).exists(self._path(uri)))

    def mkdirs(self, uri: str) -> None:
        self._fs(uri).mkdirs(self._path(uri))

    def rename(self, src: str, dst: str) -> bool:
        return bool(self._fs(src).rename(self._path(src), self._path(dst)))

    def delete(self, uri: str) -> None:
        if self.exists(uri):
            self._fs(uri).delete(self._path(uri), True)

    def list_dirs(self, uri: str) -> list[str]:
        if not self.exists(uri):
            return []
        return sorted(
            str(st.getPath().getName()) for st in self._fs(uri).listStatus(self._path(uri)) if st.isDirectory()
        )

    def qualify(self, uri: str) -> str:
        """Return the fully qualified URI (``file:/...``, ``hdfs://nn/...``) of ``uri``."""
        fs = self._fs(uri)
        return str(fs.makeQualified(self._path(uri)).toString())

    def write_text(self, uri: str, text: str) -> None:
        """Write ``text`` to ``uri`` atomically (temporary name, then rename over the target)."""
        tmp = f"{uri}.tmp-{self._jvm.java.util.UUID.randomUUID().toString()}"
        fs = self._fs(uri)
        out = fs.create(self._path(tmp), True)
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()
        if fs.exists(self._path(uri)):
            fs.delete(self._path(uri), False)
        fs.rename(self._path(tmp), self._path(uri))

    def create_new(self, uri: str, text: str) -> bool:
        """Create ``uri`` with ``text`` unless it exists (one atomic create); ``False`` when it existed.

        HDFS checks existence and creates in one namenode call; Hadoop's local filesystem does not, so a
        local path is created with an exclusive open here on the driver.
        """
        fs = self._fs(uri)
        qualified = self.qualify(uri)
        if qualified.startswith("file:"):
            local = str(self._path(qualified).toUri().getPath())
            fs.mkdirs(self._path(qualified).getParent())
            return create_local_exclusive(local, text)
        try:
            out = fs.create(self._path(uri), False)
        except Exception:  # noqa: BLE001 - FileAlreadyExistsException through py4j
            if fs.exists(self._path(uri)):
                return False
            raise
        try:
            out.write(bytearray(text.encode("utf-8")))
        finally:
            out.close()
        return True

    def read_text(self, uri: str) -> str:
        fs = self._fs(uri)
        stream = fs.open(self._path(uri))
        try:
            reader = self._jvm.java.io.BufferedReader(self._jvm.java.io.InputStreamReader(stream, "UTF-8"))
            lines = []
            line = reader.readLine()
            while line is not None:
                lines.append(line)
                line = reader.readLine()
            return "\n".join(lines)
        finally:
            stream.close()
