"""Go's trigonometric and hyperbolic functions, ported so results agree with Prometheus to the last bit.

Go computes these in Go (Cephes' polynomials, FreeBSD's Log1p) on amd64, not with the C library
behind Python's math module, which rounds differently in some cases; promtool compares results
exactly. Sinh, Cosh and Tanh call Exp, which is assembly in Go on amd64 and is not ported (see
gomath): for arguments above 0.5 they may differ from Prometheus in the last bit.
"""

from __future__ import annotations

import math
import struct

from agent.promql.gomath import go_log

_PI4A = 7.85398125648498535156e-1  # Pi/4 split into three parts
_PI4B = 3.77489470793079817668e-8
_PI4C = 2.69515142907905952645e-15
_SIN = (
    1.58962301576546568060e-10,
    -2.50507477628578072866e-8,
    2.75573136213857245213e-6,
    -1.98412698295895385996e-4,
    8.33333333332211858878e-3,
    -1.66666666666666307295e-1,
)
_COS = (
    -1.13585365213876817300e-11,
    2.08757008419747316778e-9,
    -2.75573141792967388112e-7,
    2.48015872888517045348e-5,
    -1.38888888888730564116e-3,
    4.16666666666665929218e-2,
)
_TAN_P = (-1.30936939181383777646e4, 1.15351664838587416140e6, -1.79565251976484877988e7)
_TAN_Q = (
    1.0,
    1.36812963470692954678e4,
    -1.32089234440210967447e6,
    2.50083801823357915839e7,
    -5.38695755929454629881e7,
)
_REDUCE_THRESHOLD = 1 << 29
_M_PI4 = (
    0x0000000000000001,
    0x45F306DC9C882A53,
    0xF84EAFA3EA69BB81,
    0xB6C52B3278872083,
    0xFCA2C757BD778AC3,
    0x6E48DC74849BA5C0,
    0x0C925DD413A32439,
    0xFC3BD63962534E7D,
    0xD1046BEA5D768909,
    0xD338E04D68BEFC82,
    0x7323AC7306A673E9,
    0x3908BF177BF25076,
    0x3FF12FFFBC0B301F,
    0xDE5E2316B414DA3E,
    0xDA6CFD9E4F96136E,
    0x9E8C7ECD3CBFD45A,
    0xEA4F758FD7CBE2F6,
    0x7A0E73EF14A525D4,
    0xD7F6BF623F1ABA10,
    0xAC06608DF8F6D757,
)
_MASK64 = (1 << 64) - 1
_LN2 = 6.93147180559945286227e-01
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10


def _bits(x: float) -> int:
    return int(struct.unpack("<Q", struct.pack("<d", x))[0])


def _from_bits(b: int) -> float:
    return float(struct.unpack("<d", struct.pack("<Q", b & _MASK64))[0])


def _trig_reduce(x: float) -> tuple[int, float]:
    """Payne-Hanek reduction of a large x to an octant j and a remainder in [-Pi/4, Pi/4] (Go's trigReduce)."""
    if x < math.pi / 4:
        return 0, x
    ix = _bits(x)
    exp = ((ix >> 52) & 0x7FF) - 1023 - 52
    ix = (ix & ~(0x7FF << 52)) | (1 << 52)
    digit, bitshift = (exp + 61) // 64, (exp + 61) % 64
    table = _M_PI4
    z0 = ((table[digit] << bitshift) | (table[digit + 1] >> (64 - bitshift))) & _MASK64
    z1 = ((table[digit + 1] << bitshift) | (table[digit + 2] >> (64 - bitshift))) & _MASK64
    z2 = ((table[digit + 2] << bitshift) | (table[digit + 3] >> (64 - bitshift))) & _MASK64
    z2hi = (z2 * ix) >> 64
    z1_product = z1 * ix
    z1hi, z1lo = z1_product >> 64, z1_product & _MASK64
    z0lo = (z0 * ix) & _MASK64
    low_sum = z1lo + z2hi
    lo, carry = low_sum & _MASK64, low_sum >> 64
    hi = (z0lo + z1hi + carry) & _MASK64
    j = hi >> 61
    hi = ((hi << 3) | (lo >> 61)) & _MASK64
    lz = 64 - hi.bit_length()
    e = 1023 - (lz + 1)
    hi = ((hi << (lz + 1)) | (lo >> (64 - (lz + 1)))) & _MASK64
    hi >>= 64 - 52
    hi |= e << 52
    z = _from_bits(hi)
    if j & 1:
        j = (j + 1) & 7
        z -= 1
    return j, z * (math.pi / 4)


def _octant(x: float) -> tuple[int, float]:
    """The octant and remainder of a non-negative finite x, as sin, cos and tan reduce it."""
    if x >= _REDUCE_THRESHOLD:
        return _trig_reduce(x)
    j = int(x * (4 / math.pi))
    y = float(j)
    if j & 1:
        j += 1
        y += 1
    return j, ((x - y * _PI4A) - y * _PI4B) - y * _PI4C


def _sin_poly(z: float, zz: float) -> float:
    s = _SIN
    return z + z * zz * ((((((s[0] * zz) + s[1]) * zz + s[2]) * zz + s[3]) * zz + s[4]) * zz + s[5])


def _cos_poly(zz: float) -> float:
    c = _COS
    return 1.0 - 0.5 * zz + zz * zz * ((((((c[0] * zz) + c[1]) * zz + c[2]) * zz + c[3]) * zz + c[4]) * zz + c[5])


def go_sin(x: float) -> float:
    """Go's math.Sin."""
    if x == 0 or math.isnan(x):
        return x
    if math.isinf(x):
        return math.nan
    sign = x < 0
    j, z = _octant(abs(x))
    j &= 7
    if j > 3:
        sign, j = not sign, j - 4
    zz = z * z
    y = _cos_poly(zz) if j in (1, 2) else _sin_poly(z, zz)
    return -y if sign else y


def go_cos(x: float) -> float:
    """Go's math.Cos."""
    if math.isnan(x) or math.isinf(x):
        return math.nan
    sign = False
    j, z = _octant(abs(x))
    j &= 7
    if j > 3:
        sign, j = not sign, j - 4
    if j > 1:
        sign = not sign
    zz = z * z
    y = _sin_poly(z, zz) if j in (1, 2) else _cos_poly(zz)
    return -y if sign else y


def go_tan(x: float) -> float:
    """Go's math.Tan."""
    if x == 0 or math.isnan(x):
        return x
    if math.isinf(x):
        return math.nan
    sign = x < 0
    j, z = _octant(abs(x))
    zz = z * z
    if zz > 1e-14:
        p, q = _TAN_P, _TAN_Q
        y = z + z * (zz * (((p[0] * zz) + p[1]) * zz + p[2]) / ((((zz + q[1]) * zz + q[2]) * zz + q[3]) * zz + q[4]))
    else:
        y = z
    if j & 2:
        y = -1 / y if y != 0 else -math.copysign(math.inf, y)
    return -y if sign else y


def _xatan(x: float) -> float:
    z = x * x
    z = (
        z
        * ((((-8.750608600031904122785e-01 * z - 1.615753718733365076637e01) * z - 7.500855792314704667340e01) * z
            - 1.228866684490136173410e02) * z - 6.485021904942025371773e01)
        / (((((z + 2.485846490142306297962e01) * z + 1.650270098316988542046e02) * z + 4.328810604912902668951e02) * z
             + 4.853903996359136964868e02) * z + 1.945506571482613964425e02)
    )  # fmt: skip
    return x * z + x


def _satan(x: float) -> float:
    morebits = 6.123233995736765886130e-17  # pi/2 = PIO2 + morebits
    if x <= 0.66:
        return _xatan(x)
    if x > 2.41421356237309504880:  # tan(3*pi/8)
        return math.pi / 2 - _xatan(1 / x) + morebits
    return math.pi / 4 + _xatan((x - 1) / (x + 1)) + 0.5 * morebits


def go_atan(x: float) -> float:
    """Go's math.Atan."""
    if x == 0 or math.isnan(x):
        return x
    return _satan(x) if x > 0 else -_satan(-x)


def go_asin(x: float) -> float:
    """Go's math.Asin."""
    if x == 0 or math.isnan(x):
        return x
    sign = x < 0
    x = abs(x)
    if x > 1:
        return math.nan
    temp = math.sqrt(1 - x * x)
    temp = math.pi / 2 - _satan(temp / x) if x > 0.7 else _satan(x / temp)
    return -temp if sign else temp


def go_acos(x: float) -> float:
    """Go's math.Acos."""
    return math.pi / 2 - go_asin(x)


def go_atan2(y: float, x: float) -> float:
    """Go's math.Atan2."""
    if math.isnan(y) or math.isnan(x):
        return math.nan
    if y == 0:
        if x >= 0 and math.copysign(1.0, x) > 0:
            return math.copysign(0.0, y)
        return math.copysign(math.pi, y)
    if x == 0:
        return math.copysign(math.pi / 2, y)
    if math.isinf(x):
        if x > 0:
            return math.copysign(math.pi / 4, y) if math.isinf(y) else math.copysign(0.0, y)
        return math.copysign(3 * math.pi / 4, y) if math.isinf(y) else math.copysign(math.pi, y)
    if math.isinf(y):
        return math.copysign(math.pi / 2, y)
    q = go_atan(y / x)
    if x < 0:
        return q + math.pi if q <= 0 else q - math.pi
    return q


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def go_sinh(x: float) -> float:
    """Go's math.Sinh."""
    sign = x < 0
    if sign:
        x = -x  # not abs(): -0 stays -0, as in Go
    if x > 21:
        temp = _exp(x) * 0.5
    elif x > 0.5:
        ex = _exp(x)
        temp = (ex - 1 / ex) * 0.5
    else:
        sq = x * x
        temp = (
            ((-0.2630563213397497062819489e2 * sq - 0.2894211355989563807284660366e4) * sq
             - 0.8991272022039509355398013511e5) * sq - 0.6307673640497716991184787251e6
        ) * x  # fmt: skip
        temp = temp / (
            ((sq - 0.173678953558233699533450911e3) * sq + 0.1521517378790019070696485176e5) * sq
            - 0.6307673640497716991212077277e6
        )
    return -temp if sign else temp


def go_cosh(x: float) -> float:
    """Go's math.Cosh."""
    x = abs(x)
    if x > 21:
        return _exp(x) * 0.5
    ex = _exp(x)
    return (ex + 1 / ex) * 0.5


def go_tanh(x: float) -> float:
    """Go's math.Tanh."""
    z = abs(x)
    if z > 0.5 * 8.8029691931113054295988e01:
        return -1.0 if x < 0 else 1.0
    if z >= 0.625:
        s = _exp(2 * z)
        z = 1 - 2 / (s + 1)
        return -z if x < 0 else z
    if x == 0:
        return x
    s = x * x
    num = (-9.64399179425052238628e-1 * s - 9.92877231001918586564e1) * s - 1.61468768441708447952e3
    den = ((s + 1.12811678491632931402e2) * s + 2.23548839060100448583e3) * s + 4.84406305325125486048e3
    return x + x * s * num / den


def go_log1p(x: float) -> float:
    """Go's math.Log1p (FreeBSD's algorithm)."""
    if x < -1 or math.isnan(x):
        return math.nan
    if x == -1:
        return -math.inf
    if x == math.inf:
        return math.inf
    absx = abs(x)
    f, iu, k, c = 0.0, 0, 1, 0.0
    if absx < 4.142135623730950488017e-01:
        if absx < 1.0 / (1 << 29):
            return x if absx < 1.0 / (1 << 54) else x - x * x * 0.5
        if x > -2.928932188134524755992e-01:
            k, f, iu = 0, x, 1
    if k != 0:
        if absx < 1 << 53:
            u = 1.0 + x
            iu = _bits(u)
            k = (iu >> 52) - 1023
            c = 1.0 - (u - x) if k > 0 else x - (u - 1.0)
            c /= u
        else:
            u = x
            iu = _bits(u)
            k = (iu >> 52) - 1023
            c = 0.0
        iu &= 0x000FFFFFFFFFFFFF
        if iu < 0x0006A09E667F3BCD:
            u = _from_bits(iu | 0x3FF0000000000000)
        else:
            k += 1
            u = _from_bits(iu | 0x3FE0000000000000)
            iu = (0x0010000000000000 - iu) >> 2
        f = u - 1.0
    return _log1p_tail(f, iu, k, c)


def _log1p_tail(f: float, iu: int, k: int, c: float) -> float:
    ln2_hi, ln2_lo = _LN2_HI, _LN2_LO
    hfsq = 0.5 * f * f
    if iu == 0:
        if f == 0:
            if k == 0:
                return 0.0
            c += k * ln2_lo
            return k * ln2_hi + c
        r = hfsq * (1.0 - 0.66666666666666666 * f)
        return f - r if k == 0 else k * ln2_hi - ((r - (k * ln2_lo + c)) - f)
    s = f / (2.0 + f)
    z = s * s
    r = z * (
        6.666666666666735130e-01
        + z
        * (
            3.999999999940941908e-01
            + z
            * (
                2.857142874366239149e-01
                + z
                * (
                    2.222219843214978396e-01
                    + z * (1.818357216161805012e-01 + z * (1.531383769920937332e-01 + z * 1.479819860511658591e-01))
                )
            )
        )
    )
    if k == 0:
        return f - (hfsq - s * (hfsq + r))
    return k * ln2_hi - ((hfsq - (s * (hfsq + r) + (k * ln2_lo + c))) - f)


def go_asinh(x: float) -> float:
    """Go's math.Asinh."""
    if math.isnan(x) or math.isinf(x):
        return x
    sign = x < 0
    x = -x if sign else x  # -0 stays -0, as in Go
    if x > 1 << 28:
        temp = go_log(x) + _LN2
    elif x > 2:
        temp = go_log(2 * x + 1 / (math.sqrt(x * x + 1) + x))
    elif x < 1.0 / (1 << 28):
        temp = x
    else:
        temp = go_log1p(x + x * x / (1 + math.sqrt(1 + x * x)))
    return -temp if sign else temp


def go_acosh(x: float) -> float:
    """Go's math.Acosh."""
    if x < 1 or math.isnan(x):
        return math.nan
    if x == 1:
        return 0.0
    if x >= 1 << 28:
        return go_log(x) + _LN2
    if x > 2:
        return go_log(2 * x - 1 / (x + math.sqrt(x * x - 1)))
    t = x - 1
    return go_log1p(t + math.sqrt(2 * t + t * t))


def go_atanh(x: float) -> float:
    """Go's math.Atanh."""
    if x < -1 or x > 1 or math.isnan(x):
        return math.nan
    if x == 1:
        return math.inf
    if x == -1:
        return -math.inf
    sign = x < 0
    x = -x if sign else x  # -0 stays -0, as in Go
    if x < 1.0 / (1 << 28):
        temp = x
    elif x < 0.5:
        temp = x + x
        temp = 0.5 * go_log1p(temp + temp * x / (1 - x))
    else:
        temp = 0.5 * go_log1p((x + x) / (1 - x))
    return -temp if sign else temp
