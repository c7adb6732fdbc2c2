"""A small trained model artifact with a label memory, for the real-time tests."""

from __future__ import annotations

import datetime as dt
import socket
import time
from pathlib import Path

import numpy as np
import xgboost as xgb
from pyspark.sql import SparkSession

from txcat import schema as S
from txcat import sources
from txcat.config import Config
from txcat.features import FEATURE_COLUMNS
from txcat.features import memory as MEM
from txcat.model import ModelArtifact, save_artifact

SMOOTHING = (20.0, 5.0, 3.0, 1.0)


def train_tiny_model(
    spark: SparkSession, cfg: Config, landing: Path, run_date: dt.date, folder: Path
) -> ModelArtifact:
    """A booster fitted on the labelled rows of a folder, with their label memory, saved."""
    prepared = sources.prepare(spark, cfg, sources.Source.folder(str(landing)), run_date)
    table = MEM.build_memory(prepared.scorable).toPandas()
    memory = MEM.ShippedMemory(MEM.table_to_parquet(table), SMOOTHING)  # as the job reads it
    frame = (
        prepared.featured(prepared.scorable, memory)
        .where(f"{S.LABEL} IS NOT NULL")
        .select(S.LABEL, *FEATURE_COLUMNS)
        .toPandas()
    )
    labels = frame[S.LABEL].map({c: i for i, c in enumerate(S.CATEGORIES)})
    keep = labels.notna().to_numpy()
    x = frame.loc[keep, list(FEATURE_COLUMNS)].to_numpy(dtype=np.float32, na_value=np.nan)
    data = xgb.DMatrix(x, label=labels[keep].to_numpy(), feature_names=list(FEATURE_COLUMNS))
    params = {
        "objective": "multi:softprob",
        "num_class": len(S.CATEGORIES),
        "max_depth": 3,
        "eta": 0.3,
        "nthread": 1,
        "seed": 1,
    }
    booster = xgb.train(params, data, num_boost_round=8)
    return save_artifact(
        folder,
        booster,
        FEATURE_COLUMNS,
        S.CATEGORIES,
        [],
        params,
        {},
        memory=(MEM.table_to_parquet(table), SMOOTHING),
    )


def timed_posts_in_two_writes(
    port: int, path: str, body: bytes, content_type: str, count: int
) -> list[tuple[int, float]]:
    """`count` POSTs on one keep-alive connection, as a client that leaves Nagle's algorithm on
    and writes the headers and the body in two writes; (status, seconds) of each."""
    out: list[tuple[int, float]] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        replies = sock.makefile("rb")
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: {content_type}\r\n"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode()
        for _ in range(count):
            started = time.perf_counter()
            sock.sendall(head)
            sock.sendall(body)
            status = int(replies.readline().split()[1])
            length = 0
            while (line := replies.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            replies.read(length)
            out.append((status, time.perf_counter() - started))
    return out


#: Linux holds a delayed acknowledgement for at least this long (TCP_DELACK_MIN).
DELAYED_ACK_FLOOR_S = 0.040


def waited_for_delayed_acks(answers: list[tuple[int, float]]) -> bool:
    """Whether every request of `answers` took at least the delayed-acknowledgement floor.

    With Nagle on either side, each request on the connection waits for a delayed
    acknowledgement, so even the fastest takes 40 ms or more. The fastest request is compared,
    not the median: a loaded host only adds time, and can push a typical request past 40 ms
    without any wait of this kind.
    """
    return min(seconds for _, seconds in answers) >= DELAYED_ACK_FLOOR_S
