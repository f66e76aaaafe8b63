#!/usr/bin/env python3
"""Fits the polynomials of the float32 exact-GELU kernels in
native/kernels/basic.inc, the gradient's (gelu_grad_core: T and M) and the
forward's (gelu_cdf: a longer M over [0, 20]), and the exponential that both
take e^(-y^2/2) from (gaussian_core), and prints their coefficients and
errors.
Needs mpmath and numpy (Debian: python3-mpmath, python3-numpy).

    python3 scripts/fit-gelu-grad.py [degree+1 of T] [degree+1 of M] [degree+1 of forward M] [degree+1 of exp]
    # default 11 11 13 8

Both Ms are printed times 1/sqrt(2 pi) (the factor of phi), as the kernels
take them: phi*M = e^(-y^2/2)*(M/sqrt(2 pi)).

T(w) = (Phi(sqrt w) - 1/2)/sqrt w + phi(sqrt w) on w in [0, 1]; Mills' ratio
M(y) = Phi(-y)/phi(y) on y in [1, 20] as a polynomial in u, the affine map of
t = 4/(4 + y) onto [-1, 1]. Chebyshev interpolation at 40 digits, then
monomial coefficients for Horner's rule.

Forward, Phi(x) = phi(x)*M(|x|) (x < 0) or 1 - phi(x)*M(|x|) (x >= 0) for
every x: gelu(x) = x*phi*M for x < 0 takes M's relative error, so M is
fitted over y in [0, 20] (t = 5/(5 + y) mapped onto [-1, 1]: u = 12.5/(5 + y)
- 1.5) to a higher degree and its relative error is printed; the gradient's
M only needs an error small against y - M. The exponential's polynomial is
fitted to e^r on |r| <= ln2/2 (what is left after taking out 2^n) and its
relative error printed.
"""
import sys

import mpmath as mp
import numpy as np

from chebyshev import coefficients, monomials, shifted

mp.mp.dps = 40
SQ2PI = mp.sqrt(2*mp.pi)
def mills(y):  # Q(y)/phi(y)
    y = mp.mpf(y)
    return mp.erfc(y/mp.sqrt(2))/2 / (mp.exp(-y*y/2)/SQ2PI)
def S(w):  # (Phi(x) - 1/2)/x with x = sqrt(w)
    w = mp.mpf(w)
    if w == 0: return 1/SQ2PI
    x = mp.sqrt(w)
    return (mp.ncdf(x) - mp.mpf(1)/2)/x
def T(w):  # S(w) + phi(sqrt(w)): the gradient's
    w = mp.mpf(w)
    if w == 0: return 2/SQ2PI
    return S(w) + mp.npdf(mp.sqrt(w))

A = 1.0; C = 4.0; YMAX = 20.0
NT = int(sys.argv[1]) if len(sys.argv) > 1 else 11
NM = int(sys.argv[2]) if len(sys.argv) > 2 else 11
NF = int(sys.argv[3]) if len(sys.argv) > 3 else 13
NE = int(sys.argv[4]) if len(sys.argv) > 4 else 8
CF = 5.0


# T in w on [0, A^2], monomials in w
cT = coefficients(T, mp.mpf(0), mp.mpf(A)**2, NT)
Tw = [float(v) for v in shifted(monomials(cT), 0, A*A)]
# M in t = C/(C+y), t in [C/(C+YMAX), C/(C+A)], monomials in u
tlo, thi = mp.mpf(C)/(C+YMAX), mp.mpf(C)/(C+A)
cM = coefficients(lambda t: mills(C*(1/t-1)), tlo, thi, NM)
Mu = [float(v) for v in monomials(cM)]
alpha = float(2/(thi-tlo)); beta = float(-(thi+tlo)/(thi-tlo))
print('T', Tw); print('M / sqrt(2 pi)', [v/float(SQ2PI) for v in Mu]); print('alpha beta', repr(alpha), repr(beta))

def horner(cs, v):
    p = np.full_like(v, cs[-1])
    for c in reversed(cs[:-1]): p = p*v + c
    return p
# T check: absolute error of x*T near the root and relative f' error elsewhere
xs = np.linspace(-1, 1, 4001)
w = xs*xs
fp = 0.5 + xs*horner(Tw, w)
errs = []
for x, f in zip(xs, fp):
    ref = mp.ncdf(x) + x*mp.npdf(x)
    errs.append((abs(f - ref)/2**-53, abs(f-ref)/abs(ref)))
errs = np.array(errs, dtype=float)
print('near: max abs err (units 2^-53) %.2f, max rel %.2e' % (errs[:,0].max(), errs[:,1].max()))
ys = np.concatenate([np.linspace(A, 6, 3000), np.linspace(6, YMAX, 2000)])
q = 1.0/(C + ys)
t = C*q
u = alpha*t + beta
M = horner(Mu, u)
worst = 0
for y, m in zip(ys, M):
    mr = mills(y)
    worst = max(worst, float(abs(m - mr)/(y - mr)))
print('far: max f\'-relative err %.2e' % worst)

# ---- forward: M on [0, YMAX] in u to degree NF - 1 ----
flo, fhi = mp.mpf(CF)/(CF+YMAX), mp.mpf(1)
cF = coefficients(lambda t: mills(CF*(1/t-1))/SQ2PI, flo, fhi, NF)
Fu = [float(v) for v in monomials(cF)]
fa = float(2/(fhi-flo)); fb = float(-(fhi+flo)/(fhi-flo))
print('forward M / sqrt(2 pi)', Fu); print('forward u = %r/(%r + y) + %r' % (fa*CF, CF, fb))
yf = np.concatenate([np.linspace(0, 6, 4000), np.linspace(6, YMAX, 2000)])
M = horner(Fu, fa*CF/(CF + yf) + fb)
worst = max(float(abs(m - mills(y)/SQ2PI)/(mills(y)/SQ2PI)) for y, m in zip(yf, M))
print('forward: max rel err of M %.2e' % worst)

# ---- e^r on |r| <= ln2/2 to degree NE - 1 (monomials in r) ----
H = mp.mpf('0.3466')  # just above ln2/2 = 0.346574
cE = monomials(coefficients(mp.exp, -H, H, NE))
Er = [float(v/H**k) for k, v in enumerate(cE)]
print('exp', Er)
worst = 0
for i in range(4001):
    r = -H + 2*H*i/4000
    worst = max(worst, abs(mp.polyval(Er[::-1], r)/mp.exp(r) - 1))
print('exp: max rel err %.2e' % float(worst))
