-- Created after the fill (quicker than maintaining them row by row).
CREATE INDEX IF NOT EXISTS holds_by_time    ON holds(run_id, gil_id, start_ns);
CREATE INDEX IF NOT EXISTS waits_by_time    ON waits(run_id, gil_id, start_ns);
CREATE INDEX IF NOT EXISTS switches_by_time ON switches(run_id, gil_id, acquire_ns);
CREATE INDEX IF NOT EXISTS timeouts_by_time ON timeouts(run_id, gil_id, ts_ns);
CREATE INDEX IF NOT EXISTS drops_by_time    ON drop_requests(run_id, gil_id, ts_ns);
CREATE INDEX IF NOT EXISTS forced_by_time   ON forced_switches(run_id, gil_id, start_ns);
CREATE INDEX IF NOT EXISTS gils_by_run      ON gils(run_id);
CREATE INDEX IF NOT EXISTS metrics_by_run   ON metrics(run_id, gil_id);
CREATE INDEX IF NOT EXISTS findings_by_run  ON findings(run_id);
CREATE INDEX IF NOT EXISTS lost_by_run      ON lost(run_id);
