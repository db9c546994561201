"""Writes small synthetic CTF traces with babeltrace2's Python bindings
(a user source component -> sink.ctf.fs), so that tests can feed the
analyzer exact event sequences, exact timestamps and exact losses, and
traces that break the contract (no vtid context, other providers).

    write_trace(out_dir, [Ev(ts, "request", pid, tid, gil=0x10), ...],
                losses=[Loss(after_index, count, start_ns, end_ns)])
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

import bt2

# Payload fields per event, as in tracer/gilscope_tp.h: (name, kind)
# kind: 'u64', 'u32', 's32', 'u8', 'str'.
PAYLOADS = {
    "gil_found": [("gil", "u64"), ("interval_us", "u32"), ("rule", "s32"), ("version", "str"),
                  ("tag", "u32")],
    "gil_known": [("gil", "u64"), ("interval_us", "u32"), ("rule", "s32"), ("version", "str"),
                  ("tag", "u32")],
    "resync": [("ngils", "u32"), ("tag", "u32")],
    "request": [("gil", "u64")],
    "acquire": [("gil", "u64")],
    "release": [("gil", "u64"), ("forced", "u8")],
    "wait_timeout": [("gil", "u64")],
    "drop_request": [("gil", "u64"), ("holder", "s32"), ("interval_us", "u32")],
    "forced_switch_begin": [("gil", "u64")],
    "forced_switch_end": [("gil", "u64")],
    "request_abandoned": [("gil", "u64")],
    "gil_retired": [("gil", "u64")],
    "thread_name": [("tid", "s32"), ("name", "str"), ("tag", "u32")],
    "process_exit": [("status", "s32")],
}

# What the tracer that writes after the GIL's mutex adds to each GIL state
# change (docs/events.md): an event class gets them when any event of that
# name in the trace carries "seq".
SEQ_FIELDS = [("seq", "u64"), ("ts", "u64")]
SEQ_EXTRA = {"acquire": [("switch_number", "u64")]}


# The packed layout of the current tracer (docs/events.md): an event class
# of these names gets a 64-bit array "state" and, for acquire/take/release,
# a 32-bit signed array "site" instead of one member per field, when the
# trace is written with packed=True. packed_len cuts "state" short (a trace
# that breaks the contract).
PACKED_STATE = {
    **{n: ("gil", "seq", "ts") for n in ("request", "wait_timeout", "forced_switch_begin",
                                         "forced_switch_end", "request_abandoned")},
    "acquire": ("gil", "seq", "ts", "switch_number"),
    "take": ("gil", "req_seq", "req_ts", "seq", "ts", "switch_number"),
    "release": ("gil", "seq", "ts", "forced"),
}
# Written by another thread for the one in their `tid` member (packed only).
PACKED_STATE["acquire_for"] = PACKED_STATE["acquire"]
PACKED_STATE["take_for"] = PACKED_STATE["take"]
# A whole hold in one record: take (or acquire: req_seq = NO_REQ) and release.
PACKED_STATE["hold"] = ("gil", "req_seq", "req_ts", "seq", "ts", "switch_number",
                        "rel_seq", "rel_ts", "forced")
NO_REQ = (1 << 64) - 1
SITED = ("acquire", "take", "release", "acquire_for", "take_for", "hold")
PACKED_SITE = ("code", "offset", "stack")
SITE_OF = {"hold": PACKED_SITE + ("rel_code", "rel_offset", "rel_stack")}
SITE_DEFAULT = {"code": 0, "offset": -1, "stack": 0, "rel_code": 0, "rel_offset": -1, "rel_stack": 0}

# The rarely written events in one class, gilscope:rare (tracer/gilscope_tp.h,
# docs/events.md), when the trace is written with rare=True: by event name,
# its kind, the names of its `v` elements and of its `text`.
_DESC = ("gil", "interval_us", "rule")
RARE = {
    "gil_found": (1, _DESC, "version"),
    "gil_known": (2, _DESC, "version"),
    "gil_retired": (3, ("gil",), None),
    "wait_timeout": (4, ("gil", "seq", "ts"), None),
    "request_abandoned": (5, ("gil", "seq", "ts"), None),
    "take_for": (6, PACKED_STATE["take"] + PACKED_SITE + ("tid",), None),
    "acquire_for": (7, PACKED_STATE["acquire"] + PACKED_SITE + ("tid",), None),
    "process_exit": (8, ("status",), None),
    "thread_name": (9, ("tid",), "name"),
    "resync": (10, ("ngils",), None),
    # A hold held back by `tid` and written by another thread.
    "hold_for": (11, PACKED_STATE["hold"] + SITE_OF["hold"] + ("tid",), None),
}


def _rare_values(e: "Ev") -> tuple:
    """kind, v, text, tag of e as a gilscope:rare record."""
    kind, names, text = RARE[e.name]
    v = [e.fields.get(n, SITE_DEFAULT.get(n, 0)) for n in names]
    v = [x - (1 << 64) if x >= 1 << 63 else x for x in v]  # carried signed
    return kind, v, e.fields.get(text, "") if text else "", e.fields.get("tag", 0)


def _packed(name: str, with_seq: bool, packed: bool) -> bool:
    return packed and with_seq and name in PACKED_STATE


def _payload(name: str, with_seq: bool) -> list:
    base = PAYLOADS.get(name, [])
    if not with_seq or name not in PAYLOADS or name in ("gil_found", "gil_retired", "thread_name",
                                                        "process_exit"):
        return base
    return base + SEQ_FIELDS + SEQ_EXTRA.get(name, [])


@dataclass
class Ev:
    ts: int
    name: str
    pid: int
    tid: int
    fields: dict = field(default_factory=dict)
    provider: str = "gilscope"


@dataclass
class Loss:
    before: int        # the loss is reported before events[before]
    count: int
    start_ns: int
    end_ns: int


def _fc(tc, kind):
    if kind == "str":
        return tc.create_string_field_class()
    if kind.startswith("u"):
        return tc.create_unsigned_integer_field_class(int(kind[1:]))
    return tc.create_signed_integer_field_class(int(kind[1:]))


class _Iter(bt2._UserMessageIterator):
    def __init__(self, config, port):
        p = port.user_data
        self._msgs = []
        sc, stream, classes, evs, losses = p["sc"], p["stream"], p["classes"], p["evs"], p["losses"]
        first = evs[0].ts if evs else 0
        self._msgs.append(self._create_stream_beginning_message(stream))
        pkt = stream.create_packet()
        self._msgs.append(self._create_packet_beginning_message(pkt, first))
        losses = sorted(losses, key=lambda l: l.before)
        li = 0
        last = first
        close_at = None  # the packet after a loss ends exactly at the loss's end
        for i, e in enumerate(evs):
            while li < len(losses) and losses[li].before == i:
                l = losses[li]
                # CTF says a loss between packets: from the end of the
                # previous one to the end of the next one.
                self._msgs.append(self._create_packet_end_message(pkt, l.start_ns))
                self._msgs.append(self._create_discarded_events_message(
                    stream, l.count, l.start_ns, l.end_ns))
                pkt = stream.create_packet()
                self._msgs.append(self._create_packet_beginning_message(pkt, l.start_ns))
                close_at = l.end_ns
                li += 1
            if close_at is not None and e.ts > close_at:
                self._msgs.append(self._create_packet_end_message(pkt, close_at))
                pkt = stream.create_packet()
                self._msgs.append(self._create_packet_beginning_message(pkt, close_at))
                close_at = None
            rare = p["rare"] and e.provider == "gilscope" and e.name in RARE
            ec = classes[(e.provider, "rare" if rare else e.name)]
            msg = self._create_event_message(ec, pkt, e.ts)
            ctx = msg.event.common_context_field
            if "vpid" in p["ctx"]:
                ctx["vpid"] = e.pid
            if "vtid" in p["ctx"]:
                ctx["vtid"] = e.tid
            if "procname" in p["ctx"]:
                ctx["procname"] = e.fields.get("_procname", "python3")
            if rare:
                kind, v, text, tag = _rare_values(e)
                pf = msg.event.payload_field
                pf["kind"] = kind
                pf["tag"] = tag
                pf["v"] = v[:p["rare_len"]]
                pf["text"] = text
                self._msgs.append(msg)
                last = e.ts
                continue
            if e.name == "hold" and "_holds" in e.fields:
                # Holds of one thread in one record, as sequences (the
                # current tracer: one hold or two, held-back holds).
                hs = e.fields["_holds"]
                msg.event.payload_field["state"] = [h.get(n, 0) for h in hs
                                                    for n in PACKED_STATE["hold"]][:p["packed_len"] * len(hs)]
                msg.event.payload_field["site"] = [h.get(n, SITE_DEFAULT[n]) for h in hs
                                                   for n in SITE_OF["hold"]]
                self._msgs.append(msg)
                last = e.ts
                continue
            if _packed(e.name, e.name in p["seq_names"], p["packed"]):
                names = PACKED_STATE[e.name][:p["packed_len"]]
                msg.event.payload_field["state"] = [e.fields.get(n, 0) for n in names]
                if e.name in SITED:
                    msg.event.payload_field["site"] = [e.fields.get(n, SITE_DEFAULT[n])
                                                       for n in SITE_OF.get(e.name, PACKED_SITE)]
                if e.name.endswith("_for"):
                    msg.event.payload_field["tid"] = e.fields["tid"]
                self._msgs.append(msg)
                last = e.ts
                continue
            for fname, kind in _payload(e.name, e.name in p["seq_names"]):
                if fname not in e.fields:  # e.g. tag: 0, "not recorded by gilscope"
                    msg.event.payload_field[fname] = "" if kind == "str" else 0
            for k, v in e.fields.items():
                if not k.startswith("_"):
                    msg.event.payload_field[k] = v
            self._msgs.append(msg)
            last = e.ts
        if close_at is not None:
            last = max(last, close_at)
        self._msgs.append(self._create_packet_end_message(pkt, last))
        self._msgs.append(self._create_stream_end_message(stream))
        self._msgs.reverse()

    def __next__(self):
        if not self._msgs:
            raise StopIteration
        return self._msgs.pop()


class _Source(bt2._UserSourceComponent, message_iterator_class=_Iter):
    def __init__(self, config, params, obj):
        evs, losses, ctx_fields, packed, packed_len, rare, rare_len = obj
        tc = self._create_trace_class()
        cc = self._create_clock_class(frequency=1_000_000_000, offset=bt2.ClockClassOffset(0, 0),
                                      origin_is_unix_epoch=True)
        ctx = tc.create_structure_field_class()
        for name in ctx_fields:
            ctx.append_member(name, _fc(tc, "str" if name == "procname" else "s32"))
        sc = tc.create_stream_class(default_clock_class=cc, event_common_context_field_class=ctx,
                                    supports_packets=True, packets_have_beginning_default_clock_snapshot=True,
                                    packets_have_end_default_clock_snapshot=True,
                                    supports_discarded_events=True,
                                    discarded_events_have_default_clock_snapshots=True)
        classes = {}
        seq_names = {e.name for e in evs if "seq" in e.fields or "_holds" in e.fields}
        hold_seqs = any("_holds" in e.fields for e in evs if e.name == "hold")
        for e in evs:
            key = (e.provider, e.name)
            if rare and e.provider == "gilscope" and e.name in RARE:
                key = (e.provider, "rare")
            if key in classes:
                continue
            payload = tc.create_structure_field_class()
            if key[1] == "rare":
                payload.append_member("kind", _fc(tc, "u8"))
                payload.append_member("tag", _fc(tc, "u32"))
                payload.append_member("v", tc.create_dynamic_array_field_class(_fc(tc, "s64")))
                payload.append_member("text", _fc(tc, "str"))
                classes[key] = sc.create_event_class(name="gilscope:rare", payload_field_class=payload)
                continue
            if key[1] == "hold" and hold_seqs:
                payload.append_member("state", tc.create_dynamic_array_field_class(_fc(tc, "u64")))
                payload.append_member("site", tc.create_dynamic_array_field_class(_fc(tc, "s32")))
                classes[key] = sc.create_event_class(name="gilscope:hold", payload_field_class=payload)
                continue
            if _packed(e.name, e.name in seq_names, packed):
                n = len(PACKED_STATE[e.name][:packed_len])
                payload.append_member("state", tc.create_static_array_field_class(_fc(tc, "u64"), n))
                if e.name in SITED:
                    payload.append_member("site", tc.create_static_array_field_class(
                        _fc(tc, "s32"), len(SITE_OF.get(e.name, PACKED_SITE))))
                if e.name.endswith("_for"):
                    payload.append_member("tid", _fc(tc, "s32"))
                classes[key] = sc.create_event_class(name=f"{e.provider}:{e.name}",
                                                     payload_field_class=payload)
                continue
            fields = (_payload(e.name, e.name in seq_names) if e.name in PAYLOADS
                      else [(k, "s32") for k in e.fields if not k.startswith("_")])
            for fname, kind in fields:
                payload.append_member(fname, _fc(tc, kind))
            classes[key] = sc.create_event_class(name=f"{e.provider}:{e.name}", payload_field_class=payload)
        trace = tc(environment={"hostname": "synth", "domain": "ust", "tracer_name": "lttng-ust"})
        stream = trace.create_stream(sc)
        self._add_output_port("out", {"sc": sc, "stream": stream, "classes": classes,
                                      "evs": evs, "losses": losses, "ctx": ctx_fields,
                                      "seq_names": seq_names, "packed": packed,
                                      "packed_len": packed_len, "rare": rare,
                                      "rare_len": rare_len})


def write_trace(out: Path, evs: list[Ev], losses: list[Loss] = (),
                ctx_fields=("vpid", "vtid", "procname"), packed: bool = False,
                packed_len: int = 9, rare: bool = False, rare_len: int = 16) -> Path:
    """Writes the events as a CTF trace under out/ and returns out: with
    packed, the seq events in the current tracer's packed layout, else one
    member per field as earlier tracers wrote them; with rare, the rarely
    written events as gilscope:rare records (rare_len cuts their `v` short:
    a trace that breaks the contract)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    graph = bt2.Graph()
    src = graph.add_component(_Source, "src", obj=(list(evs), list(losses), tuple(ctx_fields),
                                                   packed, packed_len, rare, rare_len))
    sink_cls = bt2.find_plugin("ctf").sink_component_classes["fs"]
    sink = graph.add_component(sink_cls, "sink", params={"path": str(out), "assume-single-trace": True,
                                                         "quiet": True},
                               logging_level=bt2.LoggingLevel.WARNING)
    graph.connect_ports(src.output_ports["out"], sink.input_ports["in"])
    graph.run()
    return out


if __name__ == "__main__":
    g = 0x1000
    evs = [Ev(1000, "gil_found", 1, 1, {"gil": g, "interval_us": 5000, "rule": 1, "version": "3.11.2 (main)"}),
           Ev(1001, "acquire", 1, 1, {"gil": g}),
           Ev(2000, "request", 1, 2, {"gil": g}),
           Ev(3000, "release", 1, 1, {"gil": g, "forced": 0}),
           Ev(3500, "acquire", 1, 2, {"gil": g})]
    write_trace(Path(sys.argv[1]), evs, [Loss(3, 7, 2500, 2900)] if len(sys.argv) > 2 else [])
