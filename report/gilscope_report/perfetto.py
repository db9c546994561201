"""Writers for `gilscope export`: Perfetto's protobuf trace format
(TrackEvent) through a small hand-written protobuf encoder, and Chrome's
JSON trace events (the legacy format older viewers read).

Field numbers are those of Perfetto's protos (protos/perfetto/trace/:
trace.proto, trace_packet.proto, track_event/*.proto,
interned_data/interned_data.proto); tests/export/perfetto_trace.proto holds
the subset used here, and the tests decode every export with
`protoc --decode` against it.

The protobuf trace uses 2 + (number of GILs) packet sequences
(trusted_packet_sequence_id), each starting with
SEQ_INCREMENTAL_STATE_CLEARED: 1 holds the track descriptors and the
slices, instants and flows, with event names, categories and argument
names interned on it; 2 the threads-waiting counters; 3, 4, ... the
GIL-held-% counters of each GIL, whose values come once a window is over
(later than the slices around them), so each sequence stays in time order
on its own.
"""
from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO, Dict, List, Optional, Sequence, TextIO, Tuple

from . import timeline as tl
from .timeline import CounterTrack, Process, Thread

# --- protobuf wire format ------------------------------------------------------

VARINT, I64, LEN = 0, 1, 2


MASK64 = (1 << 64) - 1
# Every varint below 2^14 made once; two 7-bit groups with their
# continuation bits, for the low bits of a time stamp.
_SMALL = [bytes((n,)) if n < 0x80 else bytes(((n & 0x7F) | 0x80, n >> 7)) for n in range(1 << 14)]
_PAIR = [bytes(((n & 0x7F) | 0x80, (n >> 7) | 0x80)) for n in range(1 << 14)]


def varint(n: int) -> bytes:
    """Base-128 varint of a non-negative int (negative int64s take 10 bytes,
    as two's complement)."""
    if 0 <= n < 16384:
        return _SMALL[n]
    if n < 0:
        n &= MASK64
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def tag(field: int, wire: int) -> bytes:
    return varint((field << 3) | wire)


def f_varint(field: int, n: int) -> bytes:
    return tag(field, VARINT) + varint(n)


def f_bytes(field: int, data: bytes) -> bytes:
    return tag(field, LEN) + varint(len(data)) + data


def f_str(field: int, s: str) -> bytes:
    return f_bytes(field, s.encode("utf-8", "surrogateescape"))


def f_fixed64(field: int, n: int) -> bytes:
    return tag(field, I64) + struct.pack("<Q", n)


def f_double(field: int, x: float) -> bytes:
    return tag(field, I64) + struct.pack("<d", x)


# Trace
TRACE_PACKET = 1
# TracePacket
P_TIMESTAMP, P_SEQ_ID, P_TRACK_EVENT, P_INTERNED, P_SEQ_FLAGS, P_TRACK_DESCRIPTOR = 8, 10, 11, 12, 13, 60
SEQ_INCREMENTAL_STATE_CLEARED, SEQ_NEEDS_INCREMENTAL_STATE = 1, 2
# TrackEvent
E_CATEGORY_IIDS, E_DEBUG_ANNOTATIONS, E_TYPE, E_NAME_IID, E_TRACK_UUID = 3, 4, 9, 10, 11
E_COUNTER_VALUE, E_DOUBLE_COUNTER_VALUE, E_FLOW_IDS, E_TERMINATING_FLOW_IDS = 30, 44, 47, 48
TYPE_SLICE_BEGIN, TYPE_SLICE_END, TYPE_INSTANT, TYPE_COUNTER = 1, 2, 3, 4
# TrackDescriptor, ProcessDescriptor, ThreadDescriptor, CounterDescriptor
D_UUID, D_NAME, D_PROCESS, D_THREAD, D_PARENT_UUID, D_COUNTER = 1, 2, 3, 4, 5, 8
PD_PID, PD_CMDLINE, PD_PROCESS_NAME = 1, 2, 6
TD_PID, TD_TID, TD_THREAD_NAME = 1, 2, 5
CD_UNIT, UNIT_COUNT = 3, 2
# InternedData and its entries (EventCategory, EventName, DebugAnnotationName)
I_CATEGORIES, I_NAMES, I_ANNOTATION_NAMES = 1, 2, 3
ENTRY_IID, ENTRY_NAME = 1, 2
# DebugAnnotation
A_NAME_IID, A_BOOL, A_INT, A_DOUBLE, A_STRING = 1, 2, 4, 5, 6

SEQ_SLICES, SEQ_WAITING, SEQ_HELD = 1, 2, 3   # SEQ_HELD + i: the i-th GIL's held %
CATEGORY = "gil"

_U64 = struct.Struct("<Q").pack
_F64 = struct.Struct("<d").pack
_COUNTER_VALUE_TAG = tag(E_COUNTER_VALUE, VARINT)
_DOUBLE_COUNTER_VALUE_TAG = tag(E_DOUBLE_COUNTER_VALUE, I64)

LOST_UUID = 1  # tracks get small uuids (1, 2, ...): a varint of one or two bytes per event


class PerfettoSink(tl.Sink):
    """Streams a Perfetto protobuf trace into a binary file."""

    def __init__(self, out: BinaryIO):
        self.out = out
        self.events = 0
        self.slices = 0
        self._prefix: Dict[Tuple[int, int, int], bytes] = {}   # (type, kind, track) -> TrackEvent bytes
        self._seq_tail: Dict[int, bytes] = {}
        self._held_seq: Dict[CounterTrack, int] = {}
        self._ann_iid: Dict[str, int] = {}
        self._uuid: Dict[Tuple[int, int], int] = {}          # (pid, tid) -> thread track
        self._counter_uuid: Dict[CounterTrack, int] = {}
        self._last_uuid = LOST_UUID
        self._arg_cache: Dict[Tuple[str, Any], bytes] = {}
        self._counter_te: Dict[CounterTrack, bytes] = {}
        self._ts_hi, self._ts_hi_enc = -1, b""

    # -- packets
    def _packet(self, body: bytes) -> None:
        self.out.write(b"\x0a" + varint(len(body)) + body)

    def _ts(self, ts: int) -> bytes:
        """varint(ts): time stamps share their high bits for a quarter of a
        second (2^28 ns), whose encoding is kept."""
        hi = ts >> 28
        if hi <= 0:
            return varint(ts)
        if hi != self._ts_hi:
            self._ts_hi, self._ts_hi_enc = hi, varint(hi)
        return _PAIR[ts & 0x3FFF] + _PAIR[(ts >> 14) & 0x3FFF] + self._ts_hi_enc

    def _event(self, ts: int, seq: int, te: bytes) -> None:
        body = b"\x40" + self._ts(ts) + self._seq_tail[seq] + b"\x5a" + varint(len(te)) + te
        self.out.write(b"\x0a" + varint(len(body)) + body)
        self.events += 1

    def _first(self, seq: int, extra: bytes = b"") -> None:
        """The first packet of a sequence: clears its incremental state."""
        self._seq_tail[seq] = f_varint(P_SEQ_ID, seq) + f_varint(P_SEQ_FLAGS, SEQ_NEEDS_INCREMENTAL_STATE)
        self._packet(f_varint(P_SEQ_ID, seq) + f_varint(P_SEQ_FLAGS, SEQ_INCREMENTAL_STATE_CLEARED) + extra)

    def describe(self, t0: int, processes: Sequence[Process], threads: Sequence[Thread],
                 counters: Sequence[CounterTrack], has_lost: bool) -> None:
        interned = f_bytes(I_CATEGORIES, f_varint(ENTRY_IID, 1) + f_str(ENTRY_NAME, CATEGORY))
        for kind, name in tl.NAMES.items():
            interned += f_bytes(I_NAMES, f_varint(ENTRY_IID, kind + 1) + f_str(ENTRY_NAME, name))
        for i, name in enumerate(("ended", "outcome", "timeouts", "events lost inside", "convoy",
                                  "holder tid", "response ns", "events", "stream", "resumed at",
                                  "released at", "asked at"), 1):
            self._ann_iid[name] = i
            interned += f_bytes(I_ANNOTATION_NAMES, f_varint(ENTRY_IID, i) + f_str(ENTRY_NAME, name))
        self._first(SEQ_SLICES, f_bytes(P_INTERNED, interned))
        self._first(SEQ_WAITING)
        for c in counters:
            if c.kind == tl.HELD_PCT:
                self._held_seq[c] = SEQ_HELD + len(self._held_seq)
                self._first(self._held_seq[c])

        def descriptor(d: bytes) -> None:
            self._packet(f_varint(P_SEQ_ID, SEQ_SLICES) + f_bytes(P_TRACK_DESCRIPTOR, d))

        proc_uuid: Dict[int, int] = {}
        for p in processes:
            pd = f_varint(PD_PID, p.pid)
            if p.command:
                pd += f_str(PD_CMDLINE, p.command)
            if p.name:
                pd += f_str(PD_PROCESS_NAME, p.name)
            proc_uuid[p.pid] = self._new_uuid()
            descriptor(f_varint(D_UUID, proc_uuid[p.pid]) + f_bytes(D_PROCESS, pd))
        for t in threads:
            self._thread_track(t.pid, t.tid, t.name)
        for c in counters:
            cd = f_varint(CD_UNIT, UNIT_COUNT) if c.kind == tl.WAITING else b""
            uuid = self._counter_uuid[c] = self._new_uuid()
            parent = f_varint(D_PARENT_UUID, proc_uuid[c.pid]) if c.pid in proc_uuid else b""
            descriptor(f_varint(D_UUID, uuid) + parent + f_str(D_NAME, c.name) + f_bytes(D_COUNTER, cd))
        if has_lost:
            descriptor(f_varint(D_UUID, LOST_UUID) + f_str(D_NAME, "gilscope: events lost by the tracer"))

    def _new_uuid(self) -> int:
        self._last_uuid += 1
        return self._last_uuid

    def _thread_track(self, pid: int, tid: int, name: Optional[str] = None) -> int:
        """The uuid of a thread's track, described the first time it is met
        (a thread the database names only in passing gets one too)."""
        uuid = self._uuid.get((pid, tid))
        if uuid is None:
            uuid = self._uuid[(pid, tid)] = self._new_uuid()
            td = f_varint(TD_PID, pid) + f_varint(TD_TID, tid)
            if name:
                td += f_str(TD_THREAD_NAME, name)
            # no parent_uuid: a thread track belongs to its process by pid
            self._packet(f_varint(P_SEQ_ID, SEQ_SLICES) + f_bytes(P_TRACK_DESCRIPTOR, f_varint(D_UUID, uuid)
                                                                   + f_bytes(D_THREAD, td)))
        return uuid

    # -- events
    def _te(self, typ: int, kind: int, track: int) -> bytes:
        key = (typ, kind, track)
        te = self._prefix.get(key)
        if te is None:  # made once per kind of event and track
            te = f_varint(E_TYPE, typ) + f_varint(E_TRACK_UUID, track)
            if typ != TYPE_SLICE_END:
                te += f_varint(E_CATEGORY_IIDS, 1) + f_varint(E_NAME_IID, kind + 1)
            self._prefix[key] = te
        return te

    def _args(self, args: Dict[str, Any]) -> bytes:
        out = b""
        cache = self._arg_cache
        for key in args.items():
            enc = cache.get(key)
            if enc is None:
                k, v = key
                a = f_varint(A_NAME_IID, self._ann_iid[k])
                if isinstance(v, bool):
                    a += f_varint(A_BOOL, int(v))
                elif isinstance(v, int):
                    a += f_varint(A_INT, v)
                elif isinstance(v, float):
                    a += f_double(A_DOUBLE, v)
                else:
                    a += f_str(A_STRING, "" if v is None else str(v))
                enc = f_bytes(E_DEBUG_ANNOTATIONS, a)
                if len(self._arg_cache) < 4096 and (not isinstance(v, int) or isinstance(v, bool) or v < 1024):
                    self._arg_cache[key] = enc
            out += enc
        return out

    @staticmethod
    def _flows(field: int, ids: Sequence[int]) -> bytes:
        t = tag(field, I64)
        return b"".join(t + _U64(f) for f in ids)

    def _track(self, kind: int, pid: int, tid: int) -> int:
        return LOST_UUID if kind == tl.LOST else self._uuid.get((pid, tid)) or self._thread_track(pid, tid)

    def begin(self, ts: int, kind: int, pid: int, tid: int, end: int, args: Dict[str, Any],
              flows_in: Sequence[int]) -> None:
        te = self._te(TYPE_SLICE_BEGIN, kind, self._track(kind, pid, tid))
        if args:
            te += self._args(args)
        if flows_in:
            te += self._flows(E_TERMINATING_FLOW_IDS, flows_in)
        self._event(ts, SEQ_SLICES, te)
        self.slices += 1

    def end(self, ts: int, kind: int, pid: int, tid: int, args: Dict[str, Any],
            flows_in: Sequence[int], flows_out: Sequence[int]) -> None:
        te = self._te(TYPE_SLICE_END, kind, self._track(kind, pid, tid))
        if args:
            te += self._args(args)
        if flows_in:
            te += self._flows(E_TERMINATING_FLOW_IDS, flows_in)
        if flows_out:
            te += self._flows(E_FLOW_IDS, flows_out)
        self._event(ts, SEQ_SLICES, te)

    def instant(self, ts: int, kind: int, pid: int, tid: int, args: Dict[str, Any],
                flows_out: Sequence[int]) -> None:
        te = self._te(TYPE_INSTANT, kind, self._thread_track(pid, tid))
        if args:
            te += self._args(args)
        if flows_out:
            te += self._flows(E_FLOW_IDS, flows_out)
        self._event(ts, SEQ_SLICES, te)

    def counter(self, ts: int, track: CounterTrack, value: float) -> None:
        te = self._counter_te.get(track)
        if te is None:
            te = self._counter_te[track] = f_varint(E_TYPE, TYPE_COUNTER) + f_varint(E_TRACK_UUID,
                                                                                    self._counter_uuid[track])
        if track.kind == tl.WAITING:
            self._event(ts, SEQ_WAITING, te + _COUNTER_VALUE_TAG + varint(int(value)))
        else:
            self._event(ts, self._held_seq[track], te + _DOUBLE_COUNTER_VALUE_TAG + _F64(value))


class JsonSink(tl.Sink):
    """Streams Chrome trace events (JSON): complete events ("X") for the
    slices, instants ("i"), flows ("s"/"f", bound to the enclosing slice),
    counters ("C") and metadata ("M") for names. Times are microseconds
    from the run's first event, to the nanosecond."""

    def __init__(self, out: TextIO):
        self.out = out
        self.t0 = 0
        self.first = True
        self.events = 0
        self.slices = 0

    def _emit(self, ev: Dict[str, Any]) -> None:
        self.out.write(("" if self.first else ",\n") + json.dumps(ev, ensure_ascii=True, separators=(",", ":")))
        self.first = False
        self.events += 1

    def _us(self, ts: int) -> float:
        return round((ts - self.t0) / 1000.0, 3)

    def start(self) -> None:
        self.out.write('{"displayTimeUnit":"ns","traceEvents":[\n')

    def finish(self, meta: Dict[str, Any]) -> None:
        self.out.write('\n],"otherData":' + json.dumps(meta, ensure_ascii=True) + "}\n")

    def describe(self, t0: int, processes: Sequence[Process], threads: Sequence[Thread],
                 counters: Sequence[CounterTrack], has_lost: bool) -> None:
        self.t0 = t0
        for p in processes:
            if p.name:
                self._emit({"ph": "M", "name": "process_name", "pid": p.pid, "args": {"name": p.name}})
        for t in threads:
            if t.name:
                self._emit({"ph": "M", "name": "thread_name", "pid": t.pid, "tid": t.tid, "args": {"name": t.name}})
        if has_lost:
            self._emit({"ph": "M", "name": "process_name", "pid": 0, "args": {"name": "gilscope: events lost"}})

    @staticmethod
    def _id(f: int) -> int:
        return f & ((1 << 53) - 1)  # exact in JavaScript

    def begin(self, ts: int, kind: int, pid: int, tid: int, end: int, args: Dict[str, Any],
              flows_in: Sequence[int]) -> None:
        self.slices += 1
        ev = {"ph": "X", "name": tl.NAMES[kind], "cat": "gil", "pid": pid, "tid": tid,
              "ts": self._us(ts), "dur": round((end - ts) / 1000.0, 3)}
        if args:
            ev["args"] = args
        self._emit(ev)
        for f in flows_in:
            self._emit({"ph": "f", "bp": "e", "name": "hand-off", "cat": "gil", "id": self._id(f), "pid": pid,
                        "tid": tid, "ts": self._us(ts)})

    def end(self, ts: int, kind: int, pid: int, tid: int, args: Dict[str, Any],
            flows_in: Sequence[int], flows_out: Sequence[int]) -> None:
        # The slice went out whole at its begin; its end carries only the
        # flows, placed 1 ns before the end so they bind to this slice.
        inside = self._us(max(ts - 1, 0) if ts > self.t0 else ts)
        for f in flows_in:
            self._emit({"ph": "f", "bp": "e", "name": "drop request", "cat": "gil", "id": self._id(f), "pid": pid,
                        "tid": tid, "ts": inside})
        for f in flows_out:
            self._emit({"ph": "s", "name": "hand-off", "cat": "gil", "id": self._id(f), "pid": pid, "tid": tid,
                        "ts": inside})

    def instant(self, ts: int, kind: int, pid: int, tid: int, args: Dict[str, Any],
                flows_out: Sequence[int]) -> None:
        self._emit({"ph": "i", "s": "t", "name": tl.NAMES[kind], "cat": "gil", "pid": pid, "tid": tid,
                    "ts": self._us(ts), "args": args})
        for f in flows_out:
            self._emit({"ph": "s", "name": "drop request", "cat": "gil", "id": self._id(f), "pid": pid, "tid": tid,
                        "ts": self._us(ts)})

    def counter(self, ts: int, track: CounterTrack, value: float) -> None:
        key = "held %" if track.kind == tl.HELD_PCT else "waiting"
        self._emit({"ph": "C", "name": track.name, "pid": track.pid, "ts": self._us(ts),
                    "args": {key: round(value, 3) if isinstance(value, float) else value}})
