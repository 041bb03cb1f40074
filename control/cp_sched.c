/*
 * cp_sched.c - calendar-driven transitions of the contract lifecycle; see cp_sched.h.
 *
 * Role: control plane, called every few tens of milliseconds by tokexd's control thread,
 * or as fast as a test advances its clock. Each contract moves one transition per step;
 * steps repeat until nothing is due, so the order of events is always the calendar's.
 */
#include "cp_sched.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <tokex/proto.h>

#include "dataplane/dp_hash.h"

void cp_sched_init(struct cp_sched *s, struct cp_life *L, uint64_t (*clock)(void *), void *arg)
{
	memset(s, 0, sizeof(*s));
	s->L = L;
	s->clock = clock;
	s->clock_arg = arg;
	s->vol_halt_ns = 120ull * 1000000000ull;
	s->sync_ns = 1000000000ull;
	s->auto_list = 1;
	s->auto_delist = 1;
}

static int cp_slot_phase(int slot)
{
	switch (slot) {
	case CP_SLOT_PRE_OPEN:
	case CP_SLOT_AUCTION:
		return TKX_PHASE_PRE_OPEN;
	case CP_SLOT_CONTINUOUS:
		return TKX_PHASE_CONTINUOUS;
	case CP_SLOT_BREAK:
		return TKX_PHASE_BREAK;
	default:
		return -1;
	}
}

int cp_sched_resume_phase(const struct cp_sched *s)
{
	int32_t day;
	uint32_t min;
	cp_cal_local(&s->L->cal, s->L->now, &day, &min);
	return cp_slot_phase(cp_cal_slot(&s->L->cal, day, min));
}

/* Lists the month after the furthest one, referenced on its latest settlement. */
static int cp_list_next(struct cp_sched *s, const struct cp_life_contract *like, char *err,
			size_t len)
{
	struct cp_life *L = s->L;
	uint32_t last = cp_life_last_month(L);
	if (last == 0)
		return 0;
	const struct cp_life_contract *far = cp_life_find(L, last);
	struct cp_life_params p = {
		.id = cp_cal_month_add(last, 1),
		.core = like->core,
		.tick = like->tick,
		.ref_price = far->settle,
		.max_qty = like->max_qty,
		.max_orders = like->max_orders,
	};
	/* The slot of a delisted contract is reused: the table never fills up over years. */
	for (uint32_t i = 0; i < L->n; i++)
		if (L->c[i].phase == TKX_PHASE_DELISTED) {
			L->c[i] = L->c[--L->n];
			break;
		}
	int rc = cp_life_define(L, &p, err, len);
	if (rc == 0)
		rc = cp_life_list(L, p.id, err, len);
	return rc;
}

/* Whether a message is the one last logged: its FNV-1a (kept in memory only). */
static uint32_t cp_sched_hash(const char *t)
{
	return (uint32_t)dp_fnv1a64(DP_FNV_INIT, t, strlen(t));
}

static struct cp_sched_note *cp_sched_note_of(struct cp_sched *s, uint32_t id, int add)
{
	struct cp_sched_note *free_e = NULL;
	for (uint32_t i = 0; i < CP_LIFE_MAX + 1; i++) {
		if (s->note[i].used && s->note[i].id == id)
			return &s->note[i];
		if (!free_e && !s->note[i].used)
			free_e = &s->note[i];
	}
	if (add && !free_e) {
		/* Full: notes of contracts gone (delisted, forgotten) make room. */
		for (uint32_t i = 0; i < CP_LIFE_MAX + 1 && !free_e; i++) {
			const struct cp_life_contract *k = cp_life_find(s->L, s->note[i].id);
			if (!k || k->phase == TKX_PHASE_DELISTED)
				free_e = &s->note[i];
		}
	}
	if (add && free_e) {
		memset(free_e, 0, sizeof(*free_e));
		free_e->id = id;
		free_e->used = 1;
		return free_e;
	}
	return NULL;
}

static void cp_sched_log(struct cp_sched *s, const char *line)
{
	if (s->L->ops.log)
		s->L->ops.log(s->L->ops.arg, s->L->now, line);
}

/* A failed transition: logged the first time, counted (and not logged) while the same
 * error repeats on the same contract; a tick every few tens of milliseconds must not
 * flood the log with one stuck contract. */
static void cp_sched_failed(struct cp_sched *s, uint32_t id, const char *err)
{
	snprintf(s->last_error, sizeof(s->last_error), "%s", err);
	s->errors++;
	uint32_t h = cp_sched_hash(err);
	struct cp_sched_note *n = cp_sched_note_of(s, id, 1);
	if (n && n->repeats && n->err_hash == h) {
		n->repeats++;
		s->errors_quiet++;
		return;
	}
	if (n) {
		n->err_hash = h;
		n->repeats = 1;
	}
	cp_sched_log(s, err);
}

/* Waiting (for the index file): each new reason once, per contract. */
static void cp_sched_waiting(struct cp_sched *s, uint32_t id, const char *why)
{
	uint32_t h = cp_sched_hash(why) | 1; /* never 0: 0 is "none" */
	struct cp_sched_note *n = cp_sched_note_of(s, id, 1);
	if (n && n->wait_hash == h)
		return;
	if (n)
		n->wait_hash = h;
	s->final_waits++;
	cp_sched_log(s, why);
}

/* The contract made a transition: what was noted about it is over. */
static void cp_sched_recovered(struct cp_sched *s, uint32_t id)
{
	struct cp_sched_note *n = cp_sched_note_of(s, id, 0);
	if (!n)
		return;
	if (n->repeats) {
		char line[160];
		snprintf(line, sizeof(line), "contract %u: the scheduler goes on (the error above "
			 "came %" PRIu64 " time(s))", id, n->repeats);
		cp_sched_log(s, line);
	}
	n->used = 0;
}

/* The index file's fixings in s->fx, read again only when the file changed (inode, size,
 * modification time) since the last read: 0, or the reading's error with its text. */
static int cp_sched_index(struct cp_sched *s, char *e, size_t len)
{
	const char *path = s->L->index_file;
	struct stat st;
	if (stat(path, &st) < 0) {
		int err = errno;
		s->fx_ino = s->fx_size = s->fx_mtime_ns = 0;
		s->fx.n = 0;
		snprintf(e, len, "%s: cannot open the index file: %s", path, strerror(err));
		return -err;
	}
	uint64_t mt = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
	if (s->index_reads == 0 || (uint64_t)st.st_ino != s->fx_ino ||
	    (uint64_t)st.st_size != s->fx_size || mt != s->fx_mtime_ns) {
		s->fx_ino = (uint64_t)st.st_ino;
		s->fx_size = (uint64_t)st.st_size;
		s->fx_mtime_ns = mt;
		s->index_reads++;
		s->fx_text[0] = '\0';
		s->fx_rc = cp_index_load(path, &s->fx, s->fx_text, sizeof(s->fx_text));
	}
	if (s->fx_rc < 0)
		snprintf(e, len, "%s", s->fx_text);
	return s->fx_rc;
}

/* One transition for contract k if one is due: 1 made, 0 nothing due, < 0 failed. */
static int cp_step(struct cp_sched *s, struct cp_life_contract *k, int32_t day, uint32_t min,
		   char *err, size_t len)
{
	struct cp_life *L = s->L;
	int slot = cp_cal_slot(&L->cal, day, min);
	int closing = day != k->trade_day || slot == CP_SLOT_CLOSED;
	int rc;

	switch (k->phase) {
	case TKX_PHASE_LISTED:
	case TKX_PHASE_SETTLED:
		/* Expiry follows the calendar: settled on its last trading day, or that day is
		 * over (tokexd was down, started after its close, or never opened it). */
		if (cp_life_expiry_due(L, k, day)) {
			rc = cp_life_expire(L, k->id, day, err, len);
			/* The roll lists the next month once every contract has made this
			 * moment's transitions (cp_sched_at): its reference is the furthest
			 * month's settlement of today, whatever the order of the table. */
			if (rc == 0 && s->auto_list && s->n_roll < CP_LIFE_MAX)
				s->roll[s->n_roll++] = *k;
			return rc < 0 ? rc : 1;
		}
		/* A day already over is not opened (tokexd started after the close). */
		if (slot != CP_SLOT_NONE && slot != CP_SLOT_CLOSED && k->trade_day < day &&
		    day <= k->last_trading_day) {
			rc = cp_life_pre_open(L, k->id, day, err, len);
			return rc < 0 ? rc : 1;
		}
		return 0;
	case TKX_PHASE_PRE_OPEN:
		if (k->halt_reason == CP_HALT_VOLATILITY) {
			/* A volatility auction: uncross back into the calendar's phase when it
			 * has lasted vol_halt_ns; the close ends it like any trading phase. */
			if (closing)
				rc = cp_life_close(L, k->id, err, len);
			else if (L->now - k->halted_at >= s->vol_halt_ns)
				rc = cp_life_uncross(L, k->id, slot == CP_SLOT_BREAK ? TKX_PHASE_BREAK
										 : TKX_PHASE_CONTINUOUS,
						     err, len);
			else
				return 0;
			return rc < 0 ? rc : 1;
		}
		if (slot == CP_SLOT_PRE_OPEN && !closing)
			return 0;
		rc = cp_life_uncross(L, k->id, TKX_PHASE_AUCTION, err, len);
		return rc < 0 ? rc : 1;
	case TKX_PHASE_AUCTION:
	case TKX_PHASE_BREAK:
		if (closing)
			rc = cp_life_close(L, k->id, err, len);
		else if (slot == CP_SLOT_CONTINUOUS)
			rc = cp_life_open(L, k->id, err, len);
		else
			return 0;
		return rc < 0 ? rc : 1;
	case TKX_PHASE_CONTINUOUS:
		if (closing)
			rc = cp_life_close(L, k->id, err, len);
		else if (slot == CP_SLOT_BREAK)
			rc = cp_life_break(L, k->id, err, len);
		else
			return 0;
		return rc < 0 ? rc : 1;
	case TKX_PHASE_HALTED:
		/* The operator's halt lasts until 'resume'; the close still closes it. */
		if (!closing)
			return 0;
		rc = cp_life_close(L, k->id, err, len);
		return rc < 0 ? rc : 1;
	case TKX_PHASE_CLOSED:
		rc = cp_life_settle(L, k->id, k->trade_day, err, len);
		return rc < 0 ? rc : 1;
	case TKX_PHASE_EXPIRED: {
		char e[256];
		struct cp_final f;
		if (!L->index_file[0]) {
			snprintf(e, sizeof(e), "contract %u: expired; no index file configured "
				 "(settlement.index_file): final-settle it with 'final %u FILE'", k->id,
				 k->id);
			rc = -ENODATA;
		} else if ((rc = cp_sched_index(s, e, sizeof(e))) == 0 &&
			   (rc = cp_settle_final(&s->fx, &L->cal, k->id, k->tick, &f, e,
						 sizeof(e))) == 0) {
			/* The fixings are all there: only now is it a transition (a refusal
			 * then is a real one, counted by the lifecycle). */
			rc = cp_life_final_settle(L, k->id, &s->fx, NULL, e, sizeof(e));
		}
		if (rc < 0) {
			/* Waiting for the operator's file is not a failure: each reason once. */
			cp_sched_waiting(s, k->id, e);
			return 0;
		}
		return 1;
	}
	case TKX_PHASE_FINAL_SETTLED:
		if (!s->auto_delist)
			return 0;
		rc = cp_life_delist(L, k->id, err, len);
		return rc < 0 ? rc : 1;
	default:
		return 0;
	}
}

/* Every transition due at calendar time now: transitions made, or the last failure. */
static int cp_sched_at(struct cp_sched *s, uint64_t now, int sync)
{
	struct cp_life *L = s->L;
	int32_t day;
	uint32_t min;
	int made = 0, failed = 0;

	L->now = now;
	cp_cal_local(&L->cal, L->now, &day, &min);

	/* Volatility interruptions the cores started: asked at the time now, not at each
	 * slot change a jumping calendar goes through on its way (sync 0). */
	if (sync && s->sync_ns && L->now - s->last_sync >= s->sync_ns) {
		s->last_sync = L->now;
		for (uint32_t i = 0; i < L->n; i++) {
			uint8_t ph = L->c[i].phase;
			if (ph == TKX_PHASE_PRE_OPEN || ph == TKX_PHASE_AUCTION ||
			    ph == TKX_PHASE_CONTINUOUS || ph == TKX_PHASE_BREAK) {
				int changed;
				char e[128];
				cp_life_sync(L, L->c[i].id, &changed, e, sizeof(e));
			}
		}
	}

	/* Bounded: a contract makes at most a day's worth of steps per tick (about 12), and
	 * listing adds contracts as it goes. */
	for (uint32_t i = 0; i < L->n; i++) {
		for (int guard = 0; guard < 32; guard++) {
			char err[256];
			uint32_t id = L->c[i].id;
			int rc = cp_step(s, &L->c[i], day, min, err, sizeof(err));
			if (rc == 0)
				break;
			if (rc < 0) {
				cp_sched_failed(s, id, err);
				failed = rc;
				break;
			}
			cp_sched_recovered(s, id);
			made++;
			s->steps++;
		}
	}
	/* The roll: a month for each that expired, after every contract settled. */
	for (uint32_t i = 0; i < s->n_roll; i++) {
		char e[256];
		int rc = cp_list_next(s, &s->roll[i], e, sizeof(e));
		if (rc < 0) {
			cp_sched_failed(s, s->roll[i].id, e);
			failed = rc;
		} else {
			made++;
		}
	}
	s->n_roll = 0;
	/* The spot month by the calendar: a month whose last trading day is over hands the
	 * flag on even before it expires. */
	char err[256];
	struct cp_life_contract *spot = cp_life_spot(L);
	int src = cp_life_spot_refresh(L, err, sizeof(err));
	if (src < 0) {
		cp_sched_failed(s, spot ? spot->id : 0, err);
		failed = failed ? failed : src;
	}
	return failed ? failed : made;
}

int cp_sched_tick(struct cp_sched *s)
{
	uint64_t now = s->clock(s->clock_arg);
	int made = 0, failed = 0, rc;
	s->ticks++;
	/* The calendar jumped (a simulated clock moved on by the operator, a fast rate, a
	 * control thread kept off its CPU): each slot change since the previous tick is
	 * visited in order, as the calendar went through it, so that no trading day, close,
	 * settlement or expiry on the way is skipped. The first tick of a run has no
	 * previous one: it takes the calendar as it finds it (a day already over is not
	 * opened). */
	if (s->last_now && now > s->last_now) {
		uint64_t t = s->last_now;
		for (uint32_t n = 0; n < CP_SCHED_MAX_EVENTS; n++) {
			t = cp_cal_next_event(&s->L->cal, t);
			if (t >= now)
				break;
			rc = cp_sched_at(s, t, 0);
			if (rc < 0)
				failed = rc;
			else
				made += rc;
			s->events++;
		}
	}
	rc = cp_sched_at(s, now, 1);
	if (rc < 0)
		failed = rc;
	else
		made += rc;
	if (now > s->last_now)
		s->last_now = now;
	return failed ? failed : made;
}
