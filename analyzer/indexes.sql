-- Created before the fill when a writer thread has a second CPU to keep
-- them up to date, after it otherwise (db.c says why). Keys follow the
-- order rows are written in (time, per GIL), so appending to them or
-- building them is a near-linear pass: (run_id, gil_id, tid, start_ns)
-- would cost twice as much (a real sort of a million keys).
CREATE INDEX IF NOT EXISTS holds_by_time    ON holds(run_id, gil_id, start_ns);
CREATE INDEX IF NOT EXISTS waits_by_time    ON waits(run_id, gil_id, start_ns);
CREATE INDEX IF NOT EXISTS timeouts_by_time ON timeouts(run_id, gil_id, ts_ns);
CREATE INDEX IF NOT EXISTS forced_by_time   ON forced_switches(run_id, gil_id, start_ns);
CREATE INDEX IF NOT EXISTS switches_by_time ON switches(run_id, gil_id, acquire_ns);
CREATE INDEX IF NOT EXISTS drops_by_time    ON drop_requests(run_id, ts_ns);
CREATE INDEX IF NOT EXISTS gils_by_run      ON gils(run_id);
CREATE INDEX IF NOT EXISTS metrics_by_run   ON metrics(run_id, gil_id);
CREATE INDEX IF NOT EXISTS findings_by_run  ON findings(run_id);
CREATE INDEX IF NOT EXISTS lost_by_run      ON lost(run_id);
