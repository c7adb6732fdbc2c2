"""`strictmath.log1p` gives the JVM's `StrictMath.log1p`, hence Spark's `log1p`, to the bit."""

from __future__ import annotations

import math
import random
import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F
from pyspark.sql import types as T

from txcat import strictmath


def _bits(x: float) -> str:
    return struct.pack(">d", x).hex()


def _values() -> list[float]:
    rng = random.Random(5)
    counts = [float(n) for n in range(20_000)]
    # Amounts as the features see them: magnitudes in cents, from a cent to beyond the range.
    amounts = [round(10 ** rng.uniform(-2, 8), 2) for _ in range(5_000)]
    edges = [
        0.0,
        -0.0,
        2.0**-60,
        2.0**-40,
        2.0**-29,
        1e-10,
        0.41421,
        0.4142136,
        -0.2929,
        -0.29,
        -0.5,
        -0.999999,
        1.0,
        2.0**52,
        2.0**53 + 2,
        1e300,
        1.7976931348623157e308,
    ]
    return counts + amounts + edges


def test_log1p_equals_spark_to_the_bit(spark):
    values = _values()
    frame = spark.createDataFrame(
        [(v,) for v in values], T.StructType([T.StructField("x", T.DoubleType())])
    )
    spark_logs = [r[0] for r in frame.select(F.log1p("x")).collect()]
    ours = [strictmath.log1p(v) for v in values]
    differing = [
        (v, a, b) for v, a, b in zip(values, ours, spark_logs, strict=True) if _bits(a) != _bits(b)
    ]
    assert differing == []
    # numpy's log1p is another algorithm: the port is what makes the two paths agree.
    assert any(np.log1p(v) != s for v, s in zip(values, spark_logs, strict=True))


@settings(max_examples=300, deadline=None)
@given(st.floats(min_value=-1.0, allow_nan=False, allow_infinity=True))
def test_log1p_equals_the_jvm_on_any_double(spark, x):
    jvm = spark.sparkContext._jvm.java.lang.StrictMath.log1p(x)
    ours = strictmath.log1p(x)
    assert _bits(ours) == _bits(jvm) or (math.isnan(ours) and math.isnan(jvm))


def test_special_values():
    assert strictmath.log1p(-1.0) == -math.inf
    assert math.isnan(strictmath.log1p(-2.0))
    assert math.isnan(strictmath.log1p(math.nan))
    assert strictmath.log1p(math.inf) == math.inf
    assert _bits(strictmath.log1p(-0.0)) == _bits(-0.0)


def test_the_array_form_equals_the_scalar_one():
    values = np.array([0.0, 1.0, 137.0, 1.0, 5e6, 137.0, 0.0])
    assert [_bits(v) for v in strictmath.log1p_array(values)] == [
        _bits(strictmath.log1p(float(v))) for v in values
    ]
