-- gilscope database schema. PRAGMA user_version holds GILSCOPE_SCHEMA_VERSION.
-- Times are nanoseconds since the trace clock's origin (Unix epoch for
-- LTTng's monotonic clock offset). Thread ids are kernel tids (vtid).
-- Every column is documented in docs/schema.md. Tables may gain columns;
-- readers select columns by name.

CREATE TABLE IF NOT EXISTS runs (
  run_id           INTEGER PRIMARY KEY,
  trace_path       TEXT NOT NULL,     -- absolute path of the analyzed trace
  hostname         TEXT,              -- from the CTF environment
  command          TEXT,              -- the recorded command line (gilscope.info), NULL if unknown
  exit_status      INTEGER,           -- the command's exit status, NULL if unknown
  start_ns         INTEGER,           -- first event
  end_ns           INTEGER,           -- last event
  wall_ns          INTEGER,           -- end_ns - start_ns
  python_versions  TEXT,              -- distinct Py_GetVersion() words, comma separated
  interval_us      INTEGER,           -- switch interval of the first GIL (NULL unknown)
  event_count      INTEGER NOT NULL,  -- gilscope events read
  lost_events      INTEGER NOT NULL,  -- events the tracer discarded (sum of lost.count)
  analyzer_version TEXT NOT NULL,
  analyzed_at      TEXT NOT NULL,     -- ISO 8601 UTC
  anomalies        INTEGER NOT NULL DEFAULT 0, -- events that fit no state (after a loss, or a tracer bug)
  skipped_events   INTEGER NOT NULL DEFAULT 0, -- events of processes of other recordings (tag filter)
  percentiles_exact INTEGER NOT NULL DEFAULT 1, -- 0: from histograms, within 1/128 (long traces)
  trace_start      TEXT NOT NULL DEFAULT 'launch', -- 'launch' | 'attach' (record --pid) | 'snapshot' (flight recorder)
  horizon_ns       INTEGER,           -- snapshot: the ring buffers' horizon (start_ns is at or after it)
  before_horizon_events INTEGER NOT NULL DEFAULT 0, -- snapshot: events before the horizon, skipped
  handoffs_checked INTEGER,           -- CPython's switch_number delta over every GIL (NULL: not carried)
  handoff_mismatches INTEGER,         -- |CPython's delta - gilscope's switches|, summed between acquires
  reordered_events INTEGER NOT NULL DEFAULT 0, -- events recorded before an earlier one of their GIL (put back by seq)
  order_gaps       INTEGER NOT NULL DEFAULT 0, -- places in a GIL's order never seen (lost events)
  late_events      INTEGER NOT NULL DEFAULT 0, -- events that came after their place was given up: not used
  first_anomaly_ns INTEGER            -- the first anomaly's event time (NULL: no anomaly)
);

CREATE TABLE IF NOT EXISTS processes (
  run_id   INTEGER NOT NULL REFERENCES runs(run_id),
  pid      INTEGER NOT NULL,
  procname TEXT,
  first_ns INTEGER,
  last_ns  INTEGER,
  exit_status INTEGER,  -- from process_exit: _exit's status, -1 for exit(); NULL: not seen
  PRIMARY KEY (run_id, pid)
);

CREATE TABLE IF NOT EXISTS gils (
  gil_id         INTEGER PRIMARY KEY,
  run_id         INTEGER NOT NULL REFERENCES runs(run_id),
  pid            INTEGER NOT NULL,
  address        TEXT NOT NULL,        -- '0x7f...' as traced
  interval_us    INTEGER,              -- NULL when the rule could not read it (3.6)
  rule           TEXT NOT NULL,        -- 'layout' | 'behaviour' | 'unknown' (gil_found not seen)
  python_version TEXT,
  found_ns       INTEGER NOT NULL,
  retired_ns     INTEGER,              -- NULL while alive at trace end
  handoffs_checked INTEGER,            -- CPython's switch_number delta between its first and last acquire seen (NULL: not carried)
  handoff_mismatches INTEGER           -- |CPython's delta - switches counted here|, summed between consecutive acquires
);

CREATE TABLE IF NOT EXISTS threads (
  run_id                 INTEGER NOT NULL REFERENCES runs(run_id),
  pid                    INTEGER NOT NULL,
  tid                    INTEGER NOT NULL,
  name                   TEXT,         -- Python thread name, NULL if never reported
  first_ns               INTEGER,
  last_ns                INTEGER,
  held_ns                INTEGER NOT NULL DEFAULT 0,
  wait_ns                INTEGER NOT NULL DEFAULT 0,
  holds                  INTEGER NOT NULL DEFAULT 0,
  waits                  INTEGER NOT NULL DEFAULT 0,
  timeouts               INTEGER NOT NULL DEFAULT 0,
  drop_requests_issued   INTEGER NOT NULL DEFAULT 0,
  drop_requests_received INTEGER NOT NULL DEFAULT 0,
  forced_releases        INTEGER NOT NULL DEFAULT 0,
  convoys                INTEGER NOT NULL DEFAULT 0,
  hold_p50_ns INTEGER, hold_p90_ns INTEGER, hold_p99_ns INTEGER, hold_max_ns INTEGER,
  wait_p50_ns INTEGER, wait_p90_ns INTEGER, wait_p99_ns INTEGER, wait_max_ns INTEGER,
  PRIMARY KEY (run_id, pid, tid)
);

CREATE TABLE IF NOT EXISTS holds (
  run_id       INTEGER NOT NULL,
  gil_id       INTEGER NOT NULL REFERENCES gils(gil_id),
  tid          INTEGER NOT NULL,
  start_ns     INTEGER NOT NULL,
  end_ns       INTEGER NOT NULL,
  dur_ns       INTEGER NOT NULL,
  ended        TEXT NOT NULL,   -- 'voluntary' | 'forced' | 'trace_end'
  crosses_loss INTEGER NOT NULL DEFAULT 0, -- events were lost inside the interval
  start_site_id  INTEGER,       -- code_sites: where the thread resumed (NULL unknown)
  end_site_id    INTEGER,       -- code_sites: where it let the GIL go (NULL unknown)
  start_stack_id INTEGER,       -- stacks: the whole stack at the start (NULL unknown)
  end_stack_id   INTEGER,       -- stacks: the whole stack at the end (NULL unknown)
  started        TEXT NOT NULL DEFAULT 'acquired' -- 'acquired' | 'trace_start' (open when the trace began: clipped)
);

CREATE TABLE IF NOT EXISTS waits (
  run_id       INTEGER NOT NULL,
  gil_id       INTEGER NOT NULL REFERENCES gils(gil_id),
  tid          INTEGER NOT NULL,
  start_ns     INTEGER NOT NULL,
  end_ns       INTEGER NOT NULL,
  dur_ns       INTEGER NOT NULL,
  timeouts     INTEGER NOT NULL,
  outcome      TEXT NOT NULL,   -- 'acquired' | 'abandoned' | 'trace_end'
  crosses_loss INTEGER NOT NULL DEFAULT 0,
  convoy       INTEGER NOT NULL DEFAULT 0, -- waited >= one interval after releasing the GIL voluntarily (I/O)
  site_id      INTEGER,         -- code_sites: the line that asked for the GIL back (NULL unknown)
  stack_id     INTEGER,         -- stacks: its whole stack (NULL unknown)
  started      TEXT NOT NULL DEFAULT 'request' -- 'request' | 'trace_start' (open when the trace began: clipped)
);

CREATE TABLE IF NOT EXISTS timeouts (
  run_id INTEGER NOT NULL,
  gil_id INTEGER NOT NULL,
  tid    INTEGER NOT NULL,
  ts_ns  INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS drop_requests (
  run_id      INTEGER NOT NULL,
  gil_id      INTEGER NOT NULL,
  ts_ns       INTEGER NOT NULL,
  requester   INTEGER NOT NULL,
  holder      INTEGER NOT NULL,
  interval_us INTEGER,           -- the switch interval in force, NULL unknown
  released_ns INTEGER,           -- the holder's next release, NULL if none seen
  response_ns INTEGER,           -- released_ns - ts_ns
  crosses_loss INTEGER NOT NULL DEFAULT 0,
  holder_site_id INTEGER        -- code_sites: where the holder released the GIL (NULL unknown)
);

CREATE TABLE IF NOT EXISTS switches (
  run_id     INTEGER NOT NULL,
  gil_id     INTEGER NOT NULL,
  release_ns INTEGER NOT NULL,
  from_tid   INTEGER NOT NULL,
  acquire_ns INTEGER NOT NULL,
  to_tid     INTEGER NOT NULL,
  gap_ns     INTEGER NOT NULL,   -- acquire_ns - max(release_ns, to_tid's request): GIL free while to_tid waited
  forced     INTEGER NOT NULL,   -- the release was forced by a drop request
  crosses_loss INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS forced_switches (
  run_id   INTEGER NOT NULL,
  gil_id   INTEGER NOT NULL,
  tid      INTEGER NOT NULL,
  start_ns INTEGER NOT NULL,
  end_ns   INTEGER NOT NULL,
  dur_ns   INTEGER NOT NULL,
  crosses_loss INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE IF NOT EXISTS lost (
  run_id   INTEGER NOT NULL,
  stream   TEXT NOT NULL,
  start_ns INTEGER,
  end_ns   INTEGER,
  count    INTEGER NOT NULL
);

-- One row per run (gil_id NULL) and one per GIL.
CREATE TABLE IF NOT EXISTS metrics (
  run_id              INTEGER NOT NULL,
  gil_id              INTEGER,
  wall_ns             INTEGER NOT NULL,
  held_pct            REAL,   -- time the GIL was held / wall (per GIL; run: mean over GILs)
  wait_pct            REAL,   -- summed wait time of all threads / wall
  contention_pct      REAL,   -- time with at least one waiter / wall
  switches            INTEGER NOT NULL,
  switches_per_s      REAL,
  drop_requests       INTEGER NOT NULL,
  drop_requests_per_s REAL,
  forced_releases     INTEGER NOT NULL,
  handoff_ns          INTEGER NOT NULL, -- sum of switches.gap_ns
  hold_p50_ns INTEGER, hold_p90_ns INTEGER, hold_p99_ns INTEGER, hold_max_ns INTEGER,
  wait_p50_ns INTEGER, wait_p90_ns INTEGER, wait_p99_ns INTEGER, wait_max_ns INTEGER,
  gap_p50_ns  INTEGER, gap_p90_ns  INTEGER, gap_p99_ns  INTEGER, gap_max_ns  INTEGER,
  drop_response_p50_ns INTEGER, drop_response_p90_ns INTEGER,
  drop_response_p99_ns INTEGER, drop_response_max_ns INTEGER,
  held_ns      INTEGER,   -- summed hold time
  wait_ns      INTEGER,   -- summed wait time
  contended_ns INTEGER,   -- time with at least one waiter (run: summed over GILs)
  holds        INTEGER,
  waits        INTEGER,
  timeouts     INTEGER,
  convoys      INTEGER
);

-- Where in the code: one row per (file, function, line) that a GIL event
-- of the run happened at, with what the GIL did there (docs/schema.md).
CREATE TABLE IF NOT EXISTS code_sites (
  run_id      INTEGER NOT NULL,
  site_id     INTEGER NOT NULL,
  filename    TEXT NOT NULL,     -- co_filename ('?' when its description was lost)
  function    TEXT NOT NULL,     -- co_qualname (3.11+), co_name before
  line        INTEGER,           -- NULL: the line table gives none
  holds       INTEGER NOT NULL,  -- holds that ended here
  held_ns     INTEGER NOT NULL,  -- their summed duration
  max_hold_ns INTEGER,           -- the longest of them, NULL if none
  acquires    INTEGER NOT NULL,  -- holds that started here (the thread resumed here)
  voluntary_releases INTEGER NOT NULL, -- releases here not forced by a drop request (I/O, C calls)
  released_ns INTEGER NOT NULL,  -- time without the GIL after those: release to the thread's next request
  forced_releases INTEGER NOT NULL, -- releases here that honoured a drop request
  waits       INTEGER NOT NULL,  -- waits for the GIL asked for here
  wait_ns     INTEGER NOT NULL,  -- their summed duration
  PRIMARY KEY (run_id, site_id)
);

-- Python stacks of the holds and waits, deduplicated by their frames.
CREATE TABLE IF NOT EXISTS stacks (
  run_id   INTEGER NOT NULL,
  stack_id INTEGER NOT NULL,
  depth    INTEGER NOT NULL,     -- frames (at most 64: deeper stacks are cut at the outer end)
  site_id  INTEGER,              -- the innermost frame's site
  holds    INTEGER NOT NULL,     -- holds that ended with this stack
  held_ns  INTEGER NOT NULL,
  waits    INTEGER NOT NULL,     -- waits asked for with this stack
  wait_ns  INTEGER NOT NULL,
  PRIMARY KEY (run_id, stack_id)
);

CREATE TABLE IF NOT EXISTS stack_frames (
  run_id   INTEGER NOT NULL,
  stack_id INTEGER NOT NULL,
  depth    INTEGER NOT NULL,     -- 0: innermost
  site_id  INTEGER NOT NULL,
  PRIMARY KEY (run_id, stack_id, depth)
);

-- Plain-words findings, composed once by the analyzer (analyzer/findings.c),
-- most important first; the summary and the report show them as stored.
CREATE TABLE IF NOT EXISTS findings (
  run_id   INTEGER NOT NULL,
  kind     TEXT NOT NULL,   -- 'waiting' | 'lost_events' | 'anomalies' | 'contention' |
                            -- 'slow_drop_response' | 'convoy' | 'cpu_bound'
  title    TEXT NOT NULL,   -- a heading of a few words
  gil_id   INTEGER,         -- the GIL it is about, NULL: the run
  tid      INTEGER,         -- the thread it is about, NULL: none
  value    REAL,            -- the figure it is about (see docs/schema.md)
  message  TEXT NOT NULL,   -- what it says
  detail   TEXT,            -- a second sentence, NULL: none
  at_ns    INTEGER,         -- a moment worth looking at, NULL: none
  dur_ns   INTEGER          -- the duration at that moment, NULL: none
);

-- Per-thread shares of the run's wall time.
CREATE VIEW IF NOT EXISTS thread_metrics AS
  SELECT t.run_id, t.pid, t.tid, t.name, t.holds, t.waits, t.held_ns, t.wait_ns,
         100.0 * t.held_ns / NULLIF(r.wall_ns, 0) AS held_pct,
         100.0 * t.wait_ns / NULLIF(r.wall_ns, 0) AS wait_pct,
         t.timeouts, t.drop_requests_issued, t.drop_requests_received,
         t.forced_releases, t.convoys,
         t.hold_p50_ns, t.hold_p90_ns, t.hold_p99_ns, t.hold_max_ns,
         t.wait_p50_ns, t.wait_p90_ns, t.wait_p99_ns, t.wait_max_ns
  FROM threads t JOIN runs r USING (run_id);

-- The run-wide metrics row.
CREATE VIEW IF NOT EXISTS run_metrics AS
  SELECT * FROM metrics WHERE gil_id IS NULL;
