"""Java's `StrictMath` in Python, bit for bit, where Spark's expressions use it.

Spark's `log1p` is `java.lang.StrictMath.log1p`: fdlibm 5.3's algorithm, exactly specified.
C's (and numpy's) `log1p` is another algorithm and differs from it in the last bit for some
inputs (log1p(137.0), for one). The features that take a logarithm (`features.row`'s signed
log amount, `features.memory`'s row counts) are computed by Spark in the batch job and in
Python by the real-time API and the champion comparison: this module gives Python the JVM's
values, so both paths produce the same bits.

The port follows fdlibm's `s_log1p.c` step by step. Python floats are IEEE doubles and every
operation here rounds once, as Java's `strictfp` arithmetic does.
"""

from __future__ import annotations

import math
import struct

import numpy as np

_LN2_HI = 6.93147180369123816490e-01  # 0x3fe62e42 fee00000
_LN2_LO = 1.90821492927058770002e-10  # 0x3dea39ef 35793c76
_TWO54 = 1.80143985094819840000e16  # 0x43500000 00000000
# The minimax polynomial of fdlibm's log1p, in its coefficients' order.
_LP = (
    6.666666666666735130e-01,  # 0x3FE55555 55555593
    3.999999999940941908e-01,  # 0x3FD99999 9997FA04
    2.857142874366239149e-01,  # 0x3FD24924 94229359
    2.222219843214978396e-01,  # 0x3FCC71C5 1D8E78AF
    1.818357216161805012e-01,  # 0x3FC74664 96CB03DE
    1.531383769920937332e-01,  # 0x3FC39A09 D078C69F
    1.479819860511658591e-01,  # 0x3FC2F112 DF3E5244
)


def _high_word(x: float) -> int:
    """The upper 32 bits of the double, as a signed int (fdlibm's `__HI`)."""
    bits: int = struct.unpack("<q", struct.pack("<d", x))[0]
    return bits >> 32


def _with_high_word(x: float, high: int) -> float:
    """`x` with its upper 32 bits replaced, the lower ones kept (fdlibm's `__HI(x) = high`)."""
    low: int = struct.unpack("<Q", struct.pack("<d", x))[0] & 0xFFFFFFFF
    value: float = struct.unpack("<d", struct.pack("<Q", ((high & 0xFFFFFFFF) << 32) | low))[0]
    return value


def log1p(x: float) -> float:
    """`java.lang.StrictMath.log1p(x)`: ln(1 + x), the same double as the JVM's."""
    hx = _high_word(x)
    ax = hx & 0x7FFFFFFF
    k = 1
    f = c = 0.0
    hu = 0
    if hx < 0x3FDA827A:  # 1 + x < sqrt(2)
        if ax >= 0x3FF00000:  # x <= -1
            if x == -1.0:
                return -math.inf
            return math.nan
        if ax < 0x3E200000:  # |x| < 2**-29
            if _TWO54 + x > 0.0 and ax < 0x3C900000:  # |x| < 2**-54
                return x
            return x - x * x * 0.5
        if hx > 0 or hx <= _signed(0xBFD2BEC3):  # -0.2929 < x < 0.41422
            k = 0
            f = x
            hu = 1
    if hx >= 0x7FF00000:  # inf or NaN
        return x + x
    if k != 0:
        if hx < 0x43400000:
            u = 1.0 + x
            hu = _high_word(u)
            k = (hu >> 20) - 1023
            c = 1.0 - (u - x) if k > 0 else x - (u - 1.0)  # the rounding of 1 + x
            c /= u
        else:
            u = x
            hu = _high_word(u)
            k = (hu >> 20) - 1023
            c = 0.0
        hu &= 0x000FFFFF
        if hu < 0x6A09E:  # u < sqrt(2) * 2**k
            u = _with_high_word(u, hu | 0x3FF00000)
        else:
            k += 1
            u = _with_high_word(u, hu | 0x3FE00000)
            hu = (0x00100000 - hu) >> 2
        f = u - 1.0
    hfsq = 0.5 * f * f
    if hu == 0:  # |f| < 2**-20
        if f == 0.0:
            if k == 0:
                return 0.0
            c += k * _LN2_LO
            return k * _LN2_HI + c
        r = hfsq * (1.0 - 0.66666666666666666 * f)
        if k == 0:
            return f - r
        return k * _LN2_HI - ((r - (k * _LN2_LO + c)) - f)
    s = f / (2.0 + f)
    z = s * s
    p1, p2, p3, p4, p5, p6, p7 = _LP
    r = z * (p1 + z * (p2 + z * (p3 + z * (p4 + z * (p5 + z * (p6 + z * p7))))))
    if k == 0:
        return f - (hfsq - s * (hfsq + r))
    return k * _LN2_HI - ((hfsq - (s * (hfsq + r) + (k * _LN2_LO + c))) - f)


def _signed(word: int) -> int:
    """A 32-bit word read as a signed int (fdlibm compares high words as `int`)."""
    return word - (1 << 32) if word & 0x80000000 else word


def log1p_array(values: np.ndarray) -> np.ndarray:
    """`log1p` of every element (float64). Row counts repeat: each distinct value once."""
    flat = np.asarray(values, dtype=np.float64)
    distinct, positions = np.unique(flat, return_inverse=True)
    logs = np.fromiter((log1p(float(v)) for v in distinct), np.float64, len(distinct))
    return logs[positions].reshape(flat.shape)
