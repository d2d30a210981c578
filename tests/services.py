"""Real servers for the lake tests: Debian's PostgreSQL (the lake's catalog) and moto's S3-compatible server.

Each starts on a free loopback port in a temporary folder and stops when the test session ends. PostgreSQL
refuses to run as root: as root, the cluster belongs to the unprivileged `postgres` user that Debian's
package creates and runs under it (runuser); as anyone else, it runs as that user. `python3 dev.py test`
installs the package where it is missing; a machine without it skips the lake tests, saying why.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from interactions_etl.lake import Lake, S3Storage

CATALOG_USER = "interactions"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_bin() -> Path | None:
    """The folder of initdb/pg_ctl: Debian keeps them out of PATH, under /usr/lib/postgresql/<major>/bin."""
    for name in ("initdb", "pg_ctl"):
        found = shutil.which(name)
        if found:
            return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def missing_postgres_reason() -> str | None:
    if postgres_bin() is None:
        return "PostgreSQL is not installed (Debian: apt-get install postgresql; `python3 dev.py test` does it as root)"
    if os.geteuid() == 0:
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without the unprivileged `postgres` user that PostgreSQL must run as"
    return None


@dataclass
class PostgresServer:
    """One PostgreSQL cluster on 127.0.0.1: password authentication (scram), fsync off (test data only)."""

    folder: Path
    port: int
    password: str
    bin: Path

    @classmethod
    def start(cls, folder: Path) -> PostgresServer:
        bin_dir = postgres_bin()
        assert bin_dir is not None
        folder.mkdir(parents=True, exist_ok=True)
        server = cls(folder=folder, port=free_port(), password=secrets.token_urlsafe(18), bin=bin_dir)
        password_file = folder / "password"
        password_file.write_text(server.password)
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres")
            shutil.chown(password_file, "postgres")
        server._as_owner(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(server.data),
                "-U",
                CATALOG_USER,
                "--auth=scram-sha-256",
                f"--pwfile={password_file}",
                "-E",
                "UTF8",
                "--no-sync",
            ]
        )
        password_file.unlink()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {server.port} -k {folder} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        server._as_owner(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(server.data),
                "-o",
                options,
                "-l",
                str(folder / "log"),
                "-w",
                "-t",
                "120",
                "start",
            ]
        )
        return server

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def _as_owner(self, command: list[str]) -> None:
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=300)

    def stop(self) -> None:
        self._as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def dsn(self, dbname: str = "postgres") -> str:
        """libpq keywords without the password (what DUCKLAKE_CATALOG holds)."""
        return f"host=127.0.0.1 port={self.port} dbname={dbname} user={CATALOG_USER}"

    def execute(self, statement: str, dbname: str = "postgres") -> list[tuple]:
        import psycopg2  # dagster-postgres's driver, already installed

        con = psycopg2.connect(self.dsn(dbname), password=self.password)
        try:
            con.autocommit = True  # CREATE DATABASE runs outside a transaction
            with con.cursor() as cursor:
                cursor.execute(statement)
                return cursor.fetchall() if cursor.description else []
        finally:
            con.close()

    def dump(self, dbname: str) -> str:
        """pg_dump of a database as SQL text: the lake's catalog, inlined rows and file statistics included."""
        completed = subprocess.run(
            [str(self.bin / "pg_dump"), "-h", "127.0.0.1", "-p", str(self.port), "-U", CATALOG_USER, dbname],
            capture_output=True, text=True, check=True, timeout=300, env={**os.environ, "PGPASSWORD": self.password},
        )  # fmt: skip
        return completed.stdout

    def readable_values(self, dbname: str) -> bytes:
        """Every value of every table in the database, zlib blobs decompressed (Dagster compresses its run
        snapshots): what a secret search must read, since a compressed key would not show in a dump."""
        import zlib

        import psycopg2

        parts: list[bytes] = []
        con = psycopg2.connect(self.dsn(dbname), password=self.password)
        try:
            with con.cursor() as cursor:
                cursor.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
                )
                for (table,) in cursor.fetchall():
                    cursor.execute(f'SELECT * FROM "{table}"')
                    for row in cursor.fetchall():
                        for value in row:
                            if isinstance(value, memoryview | bytes):
                                data = bytes(value)
                                parts.append(data)
                                with contextlib.suppress(zlib.error):
                                    parts.append(zlib.decompress(data))
                            elif value is not None:
                                parts.append(str(value).encode())
        finally:
            con.close()
        return b"\n".join(parts)

    def create_database(self) -> str:
        name = f"lake_{uuid.uuid4().hex[:12]}"
        self.execute(f"CREATE DATABASE {name}")
        return name

    def lake(self, data_path: Path | str, *, s3: S3Storage | None = None) -> Lake:
        """A new, empty lake: its own catalog database, its data under `data_path`."""
        data = str(data_path)
        if not data.startswith("s3://"):
            Path(data).mkdir(parents=True, exist_ok=True)
            data = data.rstrip("/") + "/"
        return Lake(
            catalog=self.dsn(self.create_database()), data_path=data, password=SecretStr(self.password), s3=s3
        )


@dataclass
class S3Server:
    """moto's S3-compatible server in its own process on 127.0.0.1 (its keys are any; a bucket per lake)."""

    process: subprocess.Popen[bytes]
    port: int
    key_id: str = "testing-key-id"
    secret: str = "testing-secret-key"

    @classmethod
    def start(cls, folder: Path) -> S3Server:
        port = free_port()
        folder.mkdir(parents=True, exist_ok=True)
        log = (folder / "moto.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return cls(process=process, port=port)
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"moto's server exited: {(folder / 'moto.log').read_text()[-2000:]}"
                    ) from None
                time.sleep(0.2)
        process.kill()
        raise RuntimeError("moto's server did not listen within 120 s")

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def create_bucket(self) -> str:
        import boto3

        name = f"lake-{uuid.uuid4().hex[:12]}"
        boto3.client(
            "s3",
            endpoint_url=f"http://{self.endpoint}",
            aws_access_key_id=self.key_id,
            aws_secret_access_key=self.secret,
            region_name="us-east-1",
        ).create_bucket(Bucket=name)
        return name

    def storage(self) -> S3Storage:
        return S3Storage(
            key_id=self.key_id,
            secret=SecretStr(self.secret),
            endpoint=self.endpoint,
            region="us-east-1",
            use_ssl=False,
            url_style="path",
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def location_arg(location: str | os.PathLike[str] | Lake) -> str:
    """A warehouse location as one command-line argument, for a test's child process (secrets included:
    test credentials only)."""
    if not isinstance(location, Lake):
        return str(location)
    s3 = location.s3
    return json.dumps(
        {
            "catalog": location.catalog,
            "data_path": location.data_path,
            "password": location.password.get_secret_value() if location.password else None,
            "s3": None
            if s3 is None
            else {**{k: getattr(s3, k) for k in ("key_id", "endpoint", "region", "use_ssl", "url_style")},
                  "secret": s3.secret.get_secret_value() if s3.secret else None},
        }
    )  # fmt: skip


def location_from_arg(text: str) -> str | Lake:
    if not text.startswith("{"):
        return text
    spec = json.loads(text)
    s3 = spec.pop("s3")
    return Lake(
        catalog=spec["catalog"],
        data_path=spec["data_path"],
        password=SecretStr(spec["password"]) if spec["password"] else None,
        s3=None
        if s3 is None
        else S3Storage(**{**s3, "secret": SecretStr(s3["secret"]) if s3["secret"] else None}),
    )
