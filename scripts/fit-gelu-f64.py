#!/usr/bin/env python3
"""Fits the polynomials of the float64 exact-GELU functions in
native/kernels/math_f64.inc (gauss_tail_f64) and prints their coefficients and
the error of the kernel's arithmetic, replayed here in Python's doubles.
Needs mpmath (Debian: python3-mpmath).

    python3 scripts/fit-gelu-f64.py [degree+1 of G] [degree+1 of D]
    # default 24 8

Phi(-y) = e^(-y^2/2)*F(y) for y >= 0, F(y) = erfcx(y/sqrt 2)/2 (Mills'
ratio over sqrt(2 pi)). F is taken over y in [0, 40] (beyond, e^(-y^2/2)
underflows) in v = (4 - y)/(4 + y), as F = t*G(v) with t = 4/(4 + y) =
(1 + v)/2: G runs from 1/2 to about 0.1, flatter than F, so Horner's rule
cancels less. Chebyshev interpolation of G at 50 digits, then monomial
coefficients in v. The kernel computes v with its rounding error v_lo and
adds D(v)*v_lo, D a short fit of G' (v's rounding would cost about 2 ulps),
and takes G's first two coefficients as double-double (their rounding alone
cost up to 1 ulp where G is small).
"""
import math
import random
import sys

import mpmath as mp

from chebyshev import coefficients, monomials, shifted

mp.mp.dps = 50
K, YMAX = 4, 40
NG = int(sys.argv[1]) if len(sys.argv) > 1 else 24
ND = int(sys.argv[2]) if len(sys.argv) > 2 else 8


def F(y):
    z = mp.mpf(y) / mp.sqrt(2)
    return mp.exp(z * z) * mp.erfc(z) / 2


V0 = mp.mpf(K - YMAX) / (K + YMAX)


def fit(f, n):
    """Monomial coefficients in v of f's Chebyshev interpolant on [V0, 1]."""
    return shifted(monomials(coefficients(f, V0, mp.mpf(1), n)), V0, 1)


def G(v):
    return F(K * (1 - v) / (1 + v)) * 2 / (1 + v)


g = fit(G, NG)
d = fit(lambda v: sum(i * g[i] * v**(i - 1) for i in range(1, NG)), ND)
gd = [float(c) for c in g]
dd = [float(c) for c in d]
c0_lo, c1_lo = float(g[0] - gd[0]), float(g[1] - gd[1])


def two_sum(a, b):
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def split(a):
    c = 134217729.0 * a
    hi = c - (c - a)
    return hi, a - hi


def two_product(a, b):
    p = a * b
    ah, al = split(a)
    bh, bl = split(b)
    return p, (((ah * bh - p) + ah * bl) + al * bh) + al * bl


def kernel(y):
    """F(y) as gauss_tail_f64 computes it, the unevaluated pair f + f_lo
    (the same operations, in order; Estrin's scheme written for the default
    degrees)."""
    num, num_lo = two_sum(K, -y)
    s, s_lo = two_sum(K, y)
    inv = 1.0 / s
    v = num * inv
    p_hi, p_lo = two_product(v, s)
    v_lo = (((num - p_hi) - p_lo) + num_lo - v * s_lo) * inv
    v2 = v * v
    v4 = v2 * v2
    v8 = v4 * v4
    v16 = v8 * v8
    c = gd[2:]
    b = [c[2 * i] + v * c[2 * i + 1] for i in range(11)]
    q = (((b[0] + v2 * b[1]) + v4 * (b[2] + v2 * b[3])) + v8 * ((b[4] + v2 * b[5]) + v4 * (b[6] + v2 * b[7]))) + \
        v16 * ((b[8] + v2 * b[9]) + v4 * b[10])
    e = [dd[2 * i] + v * dd[2 * i + 1] for i in range(4)]
    dv = (e[0] + v2 * e[1]) + v4 * (e[2] + v2 * e[3])
    a, a_lo = two_sum(gd[1], v * q)
    p, p_lo = two_product(v, a)
    g_hi, g_lo = two_sum(gd[0], p)
    g_lo = g_lo + (p_lo + (c0_lo + v * (a_lo + c1_lo))) + dv * v_lo
    f = (K * g_hi) * inv
    r_hi, r_lo = two_product(f, s)
    return f, ((((K * g_hi - r_hi) - r_lo) + K * g_lo) - f * s_lo) * inv


print('G, degree %d (first two as double-double):' % (NG - 1))
print('  c0 = %r + %r, c1 = %r + %r' % (gd[0], c0_lo, gd[1], c1_lo))
print('  ' + ', '.join(repr(c) for c in gd[2:]))
print("D (G'), degree %d:" % (ND - 1))
print('  ' + ', '.join(repr(c) for c in dd))
random.seed(1)
ys = [YMAX * random.random() for _ in range(60000)] + [2 * random.random() for _ in range(5000)] + \
     [1e-3 * random.random() for _ in range(500)] + [0.0, 4.0, float(YMAX)]
mp.mp.dps = 30
worst = max((abs((mp.mpf(f) + mp.mpf(f_lo) - F(y)) / math.ulp(float(F(y)))), y) for y in ys for f, f_lo in [kernel(y)])
print('F in doubles (the pair): at most %.3f ulp (at y = %r) over %d points' % (float(worst[0]), worst[1], len(ys)))
