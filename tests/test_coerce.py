"""Tolerant reads of decoded values: a number or None, never an exception."""

from __future__ import annotations

import math

import pytest

from ckptfix.coerce import as_int, as_real, as_reals, close


@pytest.mark.parametrize("v, want", [(3, 3), (3.0, 3), (-1, -1), (True, None), (3.5, None), (math.inf, None),
                                     (math.nan, None), ("3", None), (None, None)])
def test_as_int(v, want) -> None:
    assert as_int(v) == want and (want is None or type(as_int(v)) is int)


@pytest.mark.parametrize("v, want", [(1, 1.0), (1e-4, 1e-4), (False, None), (math.nan, None), (-math.inf, None),
                                     (10**400, None), ("1", None)])
def test_as_real(v, want) -> None:
    assert as_real(v) == want


def test_as_reals_and_close() -> None:
    assert as_reals([1, 2.5]) == [1.0, 2.5]
    assert as_reals([]) is None and as_reals([1, "x"]) is None and as_reals("12") is None
    assert close(1e-6, 1e-6 * (1 + 1e-12)) and not close(1e-6, 2e-6) and not close("1e-6", 1e-6)
