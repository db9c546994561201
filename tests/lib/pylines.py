"""Instruction offset -> source line for the line tables the tracer's `code`
events carry (lt_format 1: co_lnotab of 3.7-3.9, 2: co_linetable of 3.10,
3: the location table of 3.11+). An implementation independent of the
analyzer's (analyzer/linetable.c), written from CPython's
Objects/lnotab_notes.txt and Objects/locations.md, to check both."""
from __future__ import annotations

from typing import Optional


def _signed8(b: int) -> int:
    return b - 256 if b >= 128 else b


def _varint(lt: list[int], i: int) -> tuple[int, int]:
    b = lt[i]
    i += 1
    val, shift = b & 63, 0
    while b & 64:
        b = lt[i]
        i += 1
        shift += 6
        val |= (b & 63) << shift
    return val, i


def _svarint(lt: list[int], i: int) -> tuple[int, int]:
    v, i = _varint(lt, i)
    return (-(v >> 1) if v & 1 else v >> 1), i


def line_of(fmt: int, lt: list[int], first: int, offset: int) -> Optional[int]:
    """The line of the instruction at byte `offset`, or None."""
    if offset < 0:
        return None
    line = first
    if fmt == 1:
        addr = 0
        for i in range(0, len(lt) - 1, 2):
            addr += lt[i]
            if addr > offset:
                break
            line += _signed8(lt[i + 1])
        return line
    if fmt == 2:
        start = 0
        for i in range(0, len(lt) - 1, 2):
            end = start + lt[i]
            d = _signed8(lt[i + 1])
            cur: Optional[int] = None
            if d != -128:
                line += d
                cur = line
            if start <= offset < end:
                return cur
            start = end
        return None
    if fmt == 3:
        i, addr = 0, 0
        while i < len(lt):
            b = lt[i]
            i += 1
            code, length = (b >> 3) & 15, (b & 7) + 1
            cur = None
            if code == 15:
                pass
            elif code == 14:
                d, i = _svarint(lt, i)
                line += d
                cur = line
                for _ in range(3):
                    _, i = _varint(lt, i)
            elif code == 13:
                d, i = _svarint(lt, i)
                line += d
                cur = line
            elif code >= 10:
                line += code - 10
                cur = line
                i += 2
            else:
                cur = line
                i += 1
            end = addr + 2 * length
            if addr <= offset < end:
                return cur
            addr = end
        return None
    return None
