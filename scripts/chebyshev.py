"""Chebyshev interpolation at mpmath's working precision, for the fitting
scripts beside it (fit-gelu-grad.py, fit-gelu-f64.py): coefficients on
[lo, hi], then monomial coefficients for Horner's rule.
"""
import mpmath as mp


def coefficients(f, lo, hi, n):
    """Chebyshev interpolation coefficients of f on [lo, hi], n nodes."""
    nodes = [mp.cos(mp.pi*(k+mp.mpf(1)/2)/n) for k in range(n)]
    vals = [f((hi-lo)/2*u + (hi+lo)/2) for u in nodes]
    c = []
    for j in range(n):
        s = sum(vals[k]*mp.cos(mp.pi*j*(k+mp.mpf(1)/2)/n) for k in range(n))
        c.append(2*s/n if j else s/n)
    return c


def monomials(c):
    """sum c_j T_j(u) as monomial coefficients in u."""
    n = len(c)
    Tp = [[mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]]  # T_j as coefficient lists
    for j in range(2, n):
        a = [mp.mpf(0)] + [2*v for v in Tp[-1]]
        b = Tp[-2] + [mp.mpf(0)]*(len(a)-len(Tp[-2]))
        Tp.append([x - y for x, y in zip(a, b)])
    mono = [mp.mpf(0)]*n
    for j in range(n):
        for k, v in enumerate(Tp[j]):
            mono[k] += c[j]*v
    return mono


def shifted(mono_u, lo, hi):
    """Monomials in u (the map of v in [lo, hi] onto [-1, 1]) as monomials in v."""
    alpha = 2/(mp.mpf(hi)-lo)
    beta = -(mp.mpf(hi)+lo)/(mp.mpf(hi)-lo)
    n = len(mono_u)
    out = [mp.mpf(0)]*n
    for k, ck in enumerate(mono_u):
        for i in range(k+1):  # (alpha v + beta)^k
            out[i] += ck*mp.binomial(k, i)*alpha**i*beta**(k-i)
    return out
