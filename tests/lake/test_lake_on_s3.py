"""The lake's data on an S3-compatible endpoint (moto's server on loopback, through DuckDB's httpfs): a load,
staging and the marts land there, equal to the same load into a folder. (moto accepts any keys, so a
refused key is not tested here.)"""

from __future__ import annotations

from pathlib import Path

import boto3

from interactions_etl.landing import load_day
from tests.conftest import refresh_downstream
from tests.pipeline.conftest import DAY, fill, make_client, spread_over_day
from tests.reliability.test_fault_matrix import snapshot
from tests.services import PostgresServer, S3Server


def test_a_load_through_an_s3_endpoint(
    server, postgres_server: PostgresServer, s3_server: S3Server, tmp_path: Path
) -> None:
    fill(server, spread_over_day(2000, DAY))
    bucket = s3_server.create_bucket()
    on_s3 = postgres_server.lake(f"s3://{bucket}/warehouse/", s3=s3_server.storage())
    in_folder = postgres_server.lake(tmp_path / "lake-data")
    for lake in (on_s3, in_folder):
        with make_client(server) as client:
            report = load_day(client, lake, DAY, "s3-test", page_size=500)
        assert report.rows == 2000
        refresh_downstream(lake)
    assert snapshot(on_s3) == snapshot(in_folder)
    objects = boto3.client(
        "s3",
        endpoint_url=f"http://{s3_server.endpoint}",
        aws_access_key_id=s3_server.key_id,
        aws_secret_access_key=s3_server.secret,
        region_name="us-east-1",
    ).list_objects_v2(Bucket=bucket, Prefix="warehouse/")
    keys = [o["Key"] for o in objects.get("Contents", [])]
    assert any(k.startswith("warehouse/raw/interactions/") and k.endswith(".parquet") for k in keys), keys
    assert any(k.startswith("warehouse/marts/") for k in keys), keys
