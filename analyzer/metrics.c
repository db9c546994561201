/* The end of a run: the rows of the entities (processes, GILs, threads),
 * the figures per GIL and for the run (metrics), and the runs row. Every
 * figure is computed here from the state model.c left; nothing is
 * computed again by the summary or the report. */
#include "model_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double pct(int64_t part, int64_t whole)
{
	return whole > 0 ? 100.0 * (double)part / (double)whole : NAN;
}

static double per_s(int64_t n, int64_t wall)
{
	return wall > 0 ? (double)n * 1e9 / (double)wall : NAN;
}

struct figures {
	int64_t wall, held, wait, contended, switches, drops, forced, handoff;
	int64_t holds, waits, timeouts, convoys;
	double held_pct, wait_pct, contention_pct;
	/* Durations: holds and waits per thread state (ntg of them), hand-off
	 * gaps and drop responses per GIL (ngil). */
	struct durs **d_hold, **d_wait, **d_gap, **d_resp;
	size_t ntg, ngil;
};

/* The percentiles of the last GIL written, for a run of one GIL: SQLite
 * then sorts each column once, not twice. */
struct pstats {
	int valid;
	struct dur_stats h, w, gp, r;
};

/* One metrics row: gil_id's, or the run's (GS_UNKNOWN). */
static enum gs_status metrics_row(struct model *m, int64_t gil_id, const struct figures *f,
				  struct pstats *ps)
{
	struct dur_stats h, w, gp, r;

	if (ps->valid) {
		h = ps->h;
		w = ps->w;
		gp = ps->gp;
		r = ps->r;
	} else if (durs_stats_multi(f->d_hold, f->ntg, &h) ||
		   durs_stats_multi(f->d_wait, f->ntg, &w) ||
		   durs_stats_multi(f->d_gap, f->ngil, &gp) ||
		   durs_stats_multi(f->d_resp, f->ngil, &r)) {
		return model_oom(m);
	}
	*ps = (struct pstats){ 0, h, w, gp, r };
	return db_insert(m->db, DB_METRICS, m->run_id, gil_id, f->wall, f->held_pct, f->wait_pct,
			 f->contention_pct, f->switches, per_s(f->switches, f->wall), f->drops,
			 per_s(f->drops, f->wall), f->forced, f->handoff,
			 h.p50, h.p90, h.p99, h.max, w.p50, w.p90, w.p99, w.max,
			 gp.p50, gp.p90, gp.p99, gp.max, r.p50, r.p90, r.p99, r.max,
			 f->held, f->wait, f->contended, f->holds, f->waits, f->timeouts, f->convoys);
}

/* Each thread's hold and wait percentiles, over its states on every GIL. */
static enum gs_status threads_stats(struct model *m, struct durs **hv, struct durs **wv)
{
	static const struct dur_stats none = { 0, GS_UNKNOWN, GS_UNKNOWN, GS_UNKNOWN, GS_UNKNOWN };

	for (size_t i = 0; i < m->threadv.n; i++) {
		struct thread *t = m->threadv.v[i];
		size_t k = 0;

		t->hold_st = t->wait_st = none;
		for (size_t j = 0; j < m->tgv.n; j++) {
			struct tg *s = m->tgv.v[j];

			if (s->t == t) {
				hv[k] = &s->hold;
				wv[k++] = &s->wait;
			}
		}
		if (k && (durs_stats_multi(hv, k, &t->hold_st) || durs_stats_multi(wv, k, &t->wait_st)))
			return model_oom(m);
	}
	return GS_OK;
}

/* The processes, gils and threads rows. GILs before threads: per-thread
 * percentiles from SQLite join them. */
static enum gs_status entities_write(struct model *m, struct durs **hv, struct durs **wv)
{
	enum gs_status st = GS_OK;

	for (size_t i = 0; i < m->procv.n && st == GS_OK; i++) {
		struct process *p = m->procv.v[i];

		if ((m->filter || m->keep_pids) && p->state != PROC_KEPT)
			continue; /* another recording's */
		st = db_insert(m->db, DB_PROCESSES, m->run_id, (int64_t)p->pid, p->procname,
			       p->first_ns, p->last_ns, p->exit_status);
	}
	for (size_t i = 0; i < m->gilv.n && st == GS_OK; i++) {
		struct gil *g = m->gilv.v[i];
		char addr[24];

		snprintf(addr, sizeof(addr), "0x%llx", (unsigned long long)g->addr);
		st = db_insert(m->db, DB_GILS, g->id, m->run_id, (int64_t)g->pid, addr,
			       g->interval_us, g->rule, g->version, g->found_ns, g->retired_ns,
			       g->sn_prev ? g->handoffs_checked : GS_UNKNOWN,
			       g->sn_prev ? g->handoff_mismatches : GS_UNKNOWN);
	}
	if (st == GS_OK)
		st = threads_stats(m, hv, wv);
	for (size_t i = 0; i < m->threadv.n && st == GS_OK; i++) {
		struct thread *t = m->threadv.v[i];

		st = db_insert(m->db, DB_THREADS, m->run_id, (int64_t)t->pid, (int64_t)t->tid,
			       t->name, t->first_ns, t->last_ns, t->held_ns, t->wait_ns, t->holds,
			       t->waits, t->timeouts, t->drops_issued, t->drops_received,
			       t->forced_releases, t->convoys,
			       t->hold_st.p50, t->hold_st.p90, t->hold_st.p99, t->hold_st.max,
			       t->wait_st.p50, t->wait_st.p90, t->wait_st.p99, t->wait_st.max);
	}
	return st;
}

static void figures_add(struct figures *sum, const struct figures *f)
{
	sum->held += f->held;
	sum->wait += f->wait;
	sum->contended += f->contended;
	sum->switches += f->switches;
	sum->drops += f->drops;
	sum->forced += f->forced;
	sum->handoff += f->handoff;
	sum->holds += f->holds;
	sum->waits += f->waits;
	sum->timeouts += f->timeouts;
	sum->convoys += f->convoys;
}

/* The run's figures as they are summed over its GILs. */
struct run_sum {
	struct figures f;
	double held_pct_sum, cont_pct_sum;
	int nwall;                 /* GILs with a wall time */
	struct pstats ps;          /* the last GIL's percentiles */
};

/* A GIL's metrics row; its figures are added to the run's. */
static enum gs_status gil_metrics_write(struct model *m, struct gil *g, struct durs **hv,
					struct durs **wv, struct run_sum *rs)
{
	int64_t end = g->retired_ns != GS_UNKNOWN ? g->retired_ns : g->proc->last_ns;
	struct durs *gap1 = &g->gap, *resp1 = &g->resp;
	struct figures f = {
		.wall = end - g->found_ns, .held = g->held_ns, .wait = g->wait_ns,
		.contended = g->contended_ns, .switches = g->switches,
		.drops = g->drop_requests, .forced = g->forced_releases,
		.handoff = g->handoff_ns, .holds = g->holds, .waits = g->waits,
		.timeouts = g->timeouts, .convoys = g->convoys,
		.d_hold = hv, .d_wait = wv, .d_gap = &gap1, .d_resp = &resp1, .ngil = 1,
	};
	enum gs_status st;

	for (size_t j = 0; j < m->tgv.n; j++) {
		struct tg *s = m->tgv.v[j];

		if (s->g == g) {
			hv[f.ntg] = &s->hold;
			wv[f.ntg++] = &s->wait;
		}
	}
	f.held_pct = pct(f.held, f.wall);
	f.wait_pct = pct(f.wait, f.wall);
	f.contention_pct = pct(f.contended, f.wall);
	rs->ps.valid = 0;
	st = metrics_row(m, g->id, &f, &rs->ps);
	if (st != GS_OK)
		return st;
	if (f.wall > 0) {
		rs->held_pct_sum += f.held_pct;
		rs->cont_pct_sum += f.contention_pct;
		rs->nwall++;
	}
	figures_add(&rs->f, &f);
	return GS_OK;
}

/* The run's metrics row, over every collection (sorted already: merged on
 * the fly). */
static enum gs_status run_metrics_write(struct model *m, struct durs **hv, struct durs **wv,
					struct durs **gv, struct durs **rv, struct run_sum *rs,
					struct run_totals *totals)
{
	struct figures *rf = &rs->f;

	rf->d_hold = hv;
	rf->d_wait = wv;
	rf->d_gap = gv;
	rf->d_resp = rv;
	for (size_t j = 0; j < m->tgv.n; j++) {
		struct tg *s = m->tgv.v[j];

		hv[rf->ntg] = &s->hold;
		wv[rf->ntg++] = &s->wait;
	}
	for (size_t i = 0; i < m->gilv.n; i++) {
		struct gil *g = m->gilv.v[i];

		gv[rf->ngil] = &g->gap;
		rv[rf->ngil++] = &g->resp;
	}
	rf->wall = m->end_ns - m->start_ns;
	rf->held_pct = rs->nwall ? rs->held_pct_sum / rs->nwall : NAN;
	rf->contention_pct = rs->nwall ? rs->cont_pct_sum / rs->nwall : NAN;
	rf->wait_pct = pct(rf->wait, rf->wall);
	totals->wait_pct = rf->wait_pct;
	/* One GIL: the run's percentiles are its. */
	rs->ps.valid = m->gilv.n == 1;
	return metrics_row(m, GS_UNKNOWN, rf, &rs->ps);
}

enum gs_status metrics_write(struct model *m, struct run_totals *totals)
{
	/* Lists of the duration collections the figures are taken over. */
	struct durs **hv = calloc(m->tgv.n + 1, sizeof(*hv));
	struct durs **wv = calloc(m->tgv.n + 1, sizeof(*wv));
	struct durs **gv = calloc(m->gilv.n + 1, sizeof(*gv));
	struct durs **rv = calloc(m->gilv.n + 1, sizeof(*rv));
	struct run_sum rs = { 0 };
	enum gs_status st = GS_OK;

	if (!hv || !wv || !gv || !rv) {
		st = model_oom(m);
		goto end;
	}
	st = entities_write(m, hv, wv);
	for (size_t i = 0; i < m->gilv.n && st == GS_OK; i++)
		st = gil_metrics_write(m, m->gilv.v[i], hv, wv, &rs);
	if (st == GS_OK)
		st = run_metrics_write(m, hv, wv, gv, rv, &rs, totals);
end:
	free(hv);
	free(wv);
	free(gv);
	free(rv);
	return st;
}

/* Distinct first words of the versions, comma separated. */
static void versions_join(struct model *m, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (size_t i = 0; i < m->gilv.n; i++) {
		struct gil *g = m->gilv.v[i];
		char word[64];

		if (!g->version)
			continue;
		snprintf(word, sizeof(word), "%.*s", (int)strcspn(g->version, " "), g->version);
		if (!word[0])
			continue;
		/* Already listed? Compare whole items only. */
		{
			int dup = 0;
			const char *p = out;

			while (*p) {
				size_t n = strcspn(p, ",");

				if (n == strlen(word) && !strncmp(p, word, n))
					dup = 1;
				p += n;
				if (*p == ',')
					p++;
			}
			if (dup)
				continue;
		}
		used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s%s",
					 used ? "," : "", word);
		if (used >= len) {
			out[len - 1] = '\0';
			break;
		}
	}
}

enum gs_status metrics_run_write(struct model *m, const struct run_info *run)
{
	char versions[256], when[32];
	time_t now = time(NULL);
	struct tm tm;
	int64_t interval = GS_UNKNOWN, checked = GS_UNKNOWN, mismatches = GS_UNKNOWN;

	versions_join(m, versions, sizeof(versions));
	gmtime_r(&now, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (m->gilv.n)
		interval = ((struct gil *)m->gilv.v[0])->interval_us;
	for (size_t i = 0; i < m->gilv.n; i++) {
		const struct gil *g = m->gilv.v[i];

		if (!g->sn_prev)
			continue;
		checked = checked == GS_UNKNOWN ? 0 : checked;
		mismatches = mismatches == GS_UNKNOWN ? 0 : mismatches;
		checked += g->handoffs_checked;
		mismatches += g->handoff_mismatches;
	}
	return db_insert(m->db, DB_RUNS, m->run_id, run->trace_path,
			 run->hostname && run->hostname[0] ? run->hostname : NULL, run->command,
			 run->exit_status, m->start_ns, m->end_ns, m->end_ns - m->start_ns,
			 versions[0] ? versions : NULL, interval, (int64_t)m->events,
			 (int64_t)m->lost_events, GILSCOPE_VERSION, when, (int64_t)m->anomalies,
			 (int64_t)m->skipped, (int64_t)!m->spilled, m->trace_start,
			 m->horizon_ns, (int64_t)m->before_horizon, checked, mismatches,
			 (int64_t)run->reordered, (int64_t)run->order_gaps,
			 (int64_t)run->late_events,
			 m->anomalies ? m->first_anomaly_ns : GS_UNKNOWN);
}
