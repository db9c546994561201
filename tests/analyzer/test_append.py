"""--append adds a run (new run and GIL ids, old rows kept); without it the
output is replaced; summary shows the latest run."""
import shutil

import dbcheck
from dbcheck import check, one, rows


def main():
    tmp = dbcheck.tmpdir()
    a = dbcheck.unpack("countdown", tmp)
    b = dbcheck.unpack("pingpong", tmp)
    db = tmp / "runs.db"
    dbcheck.analyze(a, db, "--append")  # --append to nothing: a new database
    n_a = one(db, "SELECT count(*) FROM holds")
    dbcheck.analyze(b, db, "--append")
    check(rows(db, "SELECT run_id FROM runs ORDER BY run_id") == [(1,), (2,)], "two runs after --append")
    check(one(db, "SELECT count(*) FROM holds WHERE run_id = 1") == n_a, "the first run's rows are kept")
    check(one(db, "SELECT count(DISTINCT gil_id) FROM gils") == one(db, "SELECT count(*) FROM gils"),
          "GIL ids are unique across runs")
    check(one(db, "SELECT count(*) FROM holds h JOIN gils g USING (gil_id) WHERE h.run_id != g.run_id") == 0,
          "every hold's GIL belongs to its run")
    dbcheck.check_db(db, a, run_id=1)
    dbcheck.check_db(db, b, run_id=2)
    out = dbcheck.summary(db)
    check("run 2" in out and "pingpong" in out, "summary shows the latest run")
    link = tmp / "link"
    link.symlink_to(a)
    dbcheck.analyze(link, db)  # no --append: replaced; through a symlink
    check(one(db, "SELECT trace_path FROM runs") == str(a.resolve()), "a symlinked trace dir is followed")
    check(rows(db, "SELECT run_id FROM runs") == [(1,)], "without --append the database is replaced")
    check(not list(tmp.glob("runs.db.tmp-*")), "no temp file left")
    if not dbcheck.env_keep():
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
