/* test_ctl_server.c - the command language and the control socket: tokexctl's client
 * against cp_server over a socketpair and over a temporary Unix socket path (the client
 * runs in a thread of its own, as tokexctl would in its own process, while this thread
 * polls the server); a start-up command file with a bad line; lines with a NUL or another
 * control byte (refused whole); firms the configuration does not have; idle connections
 * that must not lock tokexctl out; socket paths that are not sockets. The lifecycle behind
 * it talks to the fake core. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cp_cmd.h"
#include "cp_server.h"
#include "fake_core.h"

static struct fake_core fk;
static struct cp_life L;
static struct cp_sched S;
static struct cp_cmd_ctx X;
static struct cp_config C; /* the built-in configuration: firms 1 and 2 */
static uint64_t clk;

static uint64_t test_clock(void *arg)
{
	(void)arg;
	return clk;
}

static void counters(void *arg, char *out, size_t len)
{
	(void)arg;
	snprintf(out, len, "core 0: orders 0 trades 0\n");
}

static int setup(void **state)
{
	(void)state;
	fk_init(&fk);
	struct cp_life_ops ops = {fake_send, NULL, &fk};
	cp_life_init(&L, &ops, 1);
	cp_sched_init(&S, &L, test_clock, NULL);
	memset(&X, 0, sizeof(X));
	X.L = &L;
	X.S = &S;
	X.counters = counters;
	cp_config_defaults(&C);
	X.cfg = &C;
	/* Monday 2 March 2026, 09:30 in Beijing: continuous trading by the calendar. */
	clk = cp_cal_utc_ns(&L.cal, cp_days_from_civil(2026, 3, 2), 9 * 60 + 30);
	L.now = clk;
	char err[128];
	for (uint32_t id = 202603; id <= 202605; id++) {
		struct cp_life_params p = {.id = id, .tick = 10, .ref_price = 25000,
					   .max_qty = 1000, .max_orders = 64};
		assert_int_equal(cp_life_define(&L, &p, err, sizeof(err)), 0);
		assert_int_equal(cp_life_list(&L, id, err, sizeof(err)), 0);
	}
	return 0;
}

static int exec(const char *line, char *out, size_t len)
{
	return cp_cmd_exec(&X, line, out, len);
}

#define OK(line, text)                                                               \
	do {                                                                         \
		char o_[8192];                                                       \
		int r_ = exec(line, o_, sizeof(o_));                                 \
		if (r_ != 0 || !strstr(o_, text))                                    \
			fail_msg("'%s': got %d '%s', want 0 '%s'", line, r_, o_, text); \
	} while (0)

#define ERR(line, rc, text)                                                          \
	do {                                                                         \
		char o_[8192];                                                       \
		int r_ = exec(line, o_, sizeof(o_));                                 \
		if (r_ != (rc) || !strstr(o_, text))                                 \
			fail_msg("'%s': got %d '%s', want %d '%s'", line, r_, o_, rc, text); \
	} while (0)

static void test_commands(void **state)
{
	(void)state;
	OK("help", "kill FIRM ACCOUNT on|off");
	OK("", "");
	OK("   # a comment", "");
	OK("contracts", "202603   TKN2603  LISTED");
	OK("calendar", "session 3 13:30-15:00");
	OK("calendar", "now 2026-03-02 09:30 (UTC+480 min), business day, slot continuous");
	OK("tick", "transition(s)"); /* the scheduler opens the day */
	OK("contracts", "CONTINUOUS");
	OK("halt 202603", "202603 HALTED");
	OK("contracts", "halted:operator");
	ERR("halt 202603", -EALREADY, "contract 202603 is already halted");
	OK("resume 202603", "202603 CONTINUOUS");
	OK("halt all", "halt: 3 contract(s)");
	OK("resume all", "resume: 3 contract(s)");
	OK("limits 202603 2.4000 2.6000", "202603 limits [2.4000, 2.6000]");
	assert_int_equal(fk_find(&fk, 202603)->lo, 24000);
	assert_int_equal(fk_find(&fk, 202603)->hi, 26000);
	ERR("limits 202603 2.40001 2.6", -EINVAL, "'2.40001' is not valid; usage: limits ID LO HI");
	ERR("limits 202603 2.4005 2.6", -EINVAL, "must be on the tick grid");
	ERR("settle 202603", -EBUSY, "contract 202603 is CONTINUOUS: cannot settle it");
	ERR("expire 202603", -EBUSY, "is CONTINUOUS: cannot expire it");
	ERR("delist 202603", -EBUSY, "is CONTINUOUS: cannot delist it");
	ERR("final 202603", -EBUSY, "needs EXPIRED");
	ERR("halt 209912", -ENOENT, "no contract 209912");
	ERR("halt x", -EINVAL, "'x' is not valid; usage: halt ID|all");
	ERR("halt", -EINVAL, "usage: halt ID|all");
	ERR("halt 1 2", -EINVAL, "usage: halt ID|all");
	ERR("frobnicate", -ENOSYS, "unknown command 'frobnicate'");
	OK("account 1 7 50 100 60", "account 1/7 set");
	ERR("account 1 7 50 100 200", -EINVAL, "spot limit <= max_position");
	ERR("account 1 7 -5 100", -EINVAL, "'-5' is not valid");
	OK("kill 1 7 on", "kill switch 1/7 on");
	assert_int_equal(fk.kills, 1);
	OK("kill 1 7 off", "kill switch 1/7 off");
	ERR("kill 1 7 maybe", -EINVAL, "'maybe' is not valid");
	fk_find(&fk, 202604)->orders = 3;
	OK("cancel 1 7", "mass cancel 1/7: 3 order(s) cancelled"); /* the fake cancels all */
	OK("cancel 0 0 202604", "mass cancel 0/0: 0 order(s) cancelled");
	ERR("cancel 0 0 209912", -ENOENT, "no contract 209912");
	/* Close by hand and settle. */
	fk_trade(&fk, 202603, 25100, 10);
	fk_trade(&fk, 202603, 25200, 30);
	OK("close 202603", "202603 CLOSED");
	OK("settle 202603", "202603 SETTLED settlement 2.5180 volume 40 next limits [2.3170, 2.7190]");
	ERR("settle 202603", -EBUSY, "is SETTLED: cannot settle it");
	ERR("expire 202603", -EINVAL, "its last trading day is 2026-03-31: not before");
	ERR("open 202603", -EBUSY, "needs AUCTION or BREAK");
	/* Listing: the next month after the furthest (the roll's), nothing else. */
	OK("list", "listed 202606 TKN2606");
	ERR("list 202608", -EINVAL, "list 202608: only the month after the strip's last (202606) "
	    "may be listed: 202607; the roll lists it when a month expires");
	ERR("list 203001", -EINVAL, "only the month after the strip's last (202606)");
	ERR("list 199901", -EINVAL, "only the month after the strip's last (202606)");
	assert_null(cp_life_find(&L, 203001));
	assert_null(cp_life_find(&L, 199901));
	OK("list 202607", "listed 202607");
	ERR("list 202607", -EBUSY, "is LISTED: cannot list it");
	ERR("list 202613", -EINVAL, "'202613' is not valid");
	OK("counters", "settlements 1");
	OK("counters", "core 0: orders 0 trades 0");
	/* A long line. */
	char longline[700];
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	ERR(longline, -E2BIG, "command longer than");
	ERR("a b c d e f g h i j", -E2BIG, "too many words");
}

static void test_final_and_delist(void **state)
{
	(void)state;
	char path[64];
	snprintf(path, sizeof(path), "/tmp/tokex-ctl-index-%d.csv", (int)getpid());
	/* Straight to the last trading day by hand. */
	clk = cp_cal_utc_ns(&L.cal, cp_days_from_civil(2026, 3, 31), 9 * 60 + 30);
	L.now = clk;
	OK("preopen 202603", "PRE_OPEN");
	OK("uncross 202603", "202603 AUCTION uncross - volume 0");
	OK("open 202603", "CONTINUOUS");
	OK("break 202603", "BREAK");
	OK("close 202603", "CLOSED");
	OK("settle all", "settle: 1 contract(s)");
	OK("expire 202603", "202603 EXPIRED");
	ERR("final 202603", -ENODATA, "no index file: give one");
	ERR("final 202603 /nonexistent.csv", -ENOENT, "/nonexistent.csv: cannot open");
	FILE *f = fopen(path, "w");
	fprintf(f, "2026-03-02,2.5000\n2026-03-03,bad\n");
	fclose(f);
	char want[128];
	snprintf(want, sizeof(want), "%s:2: 'bad' is not a price", path);
	ERR("final 202603 ", -ENODATA, "no index file");
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "final 202603 %s", path);
	ERR(cmd, -EINVAL, want);
	f = fopen(path, "w");
	fprintf(f, "2026-03-02,2.5000\n");
	fclose(f);
	ERR(cmd, -ENODATA, "no index fixing for business day 2026-03-03");
	f = fopen(path, "w");
	for (int d = 1; d <= 31; d++) {
		if (d == 7) /* a Saturday's row: skipped, and said so */
			fprintf(f, "2026-03-07,9.0000\n");
		if (cp_cal_is_business_day(&L.cal, cp_days_from_civil(2026, 3, d)))
			fprintf(f, "2026-03-%02d,2.6000\n", d);
	}
	fclose(f);
	OK(cmd, "202603 FINAL_SETTLED at 2.6000 (mean of 22 business-day fixings)\n"
	   "skipped 1 row(s) not on a business day: 2026-03-07 (weekend)");
	OK("contracts", "final:2.6000");
	fk_find(&fk, 202603)->orders = 1; /* a fault: an order the expiry left behind */
	ERR("delist 202603 confirm", -EBUSY, "contract 202603 has open orders: mass-cancel them");
	OK("cancel 0 0 202603", "mass cancel 0/0: 1 order(s) cancelled");
	/* One word more to delist: the first says what it would do, and does nothing. */
	ERR("delist 202603", -EAGAIN, "the month leaves the market for good; repeat as "
	    "'delist 202603 confirm'");
	assert_int_equal(cp_life_find(&L, 202603)->phase, TKX_PHASE_FINAL_SETTLED);
	ERR("delist 202603 yes", -EINVAL, "'yes' is not valid; usage: delist ID confirm");
	OK("delist 202603 confirm", "202603 DELISTED");
	OK("contracts", "final:2.6000");
	ERR("list 202603", -ESTALE, "the month traded and was delisted: a month that traded is "
	    "listed once");
	ERR("halt 202603", -ESTALE, "is DELISTED: cannot halt it");
	unlink(path);
}

/* The contracts line of id (without its newline) in out. */
static const char *contract_line(const char *out, uint32_t id, char *line, size_t len)
{
	char key[16];
	snprintf(key, sizeof(key), "\n%u ", id);
	const char *p = strstr(out, key);
	assert_non_null(p);
	p++;
	size_t n = strcspn(p, "\n");
	snprintf(line, len, "%.*s", (int)n, p);
	return line;
}

/* list keeps the twelve-month roll; delist needs confirming; a month that never traded
 * may come back, one that traded may not; a month whose last trading day is over is not
 * listed. */
static void test_list_roll(void **state)
{
	(void)state;
	char out[8192], line[256];
	/* A never-traded month: delisted on confirmation, without a final price ... */
	ERR("delist 202605", -EAGAIN, "delist 202605: the month never traded: it leaves the "
	    "market and may be listed again later; repeat as 'delist 202605 confirm'");
	assert_int_equal(cp_life_find(&L, 202605)->phase, TKX_PHASE_LISTED);
	OK("delist 202605 confirm", "202605 DELISTED");
	assert_int_equal(exec("contracts", out, sizeof(out)), 0);
	contract_line(out, 202605, line, sizeof(line));
	assert_non_null(strstr(line, "DELISTED"));
	assert_null(strstr(line, "final:")); /* not "final:0.0000" */
	/* ... and listed again: it is the month after the strip's last (202604). */
	OK("list 202605", "listed 202605 TKN2605");
	assert_int_equal(cp_life_find(&L, 202605)->phase, TKX_PHASE_LISTED);
	/* A hole in the strip: a month delisted before it traded goes back into its place. */
	OK("list", "listed 202606");
	OK("delist 202605 confirm", "202605 DELISTED");
	OK("list 202605", "listed 202605");
	/* Twelve months at most: the roll lists the next one when the first expires. */
	for (uint32_t id = 202607; id <= 202702; id = cp_cal_month_add(id, 1)) {
		char cmd[32];
		snprintf(cmd, sizeof(cmd), "list %u", id);
		OK(cmd, "listed");
	}
	ERR("list", -EBUSY, "list 202703: the strip already holds 12 months (202603 to 202702); "
	    "the roll lists 202703 when 202603 expires");
	ERR("list 202703", -EBUSY, "already holds 12 months");
	assert_null(cp_life_find(&L, 202703));
}

/* A strip whose months are all past: the month after it is past too, and refused. */
static void test_list_past(void **state)
{
	(void)state;
	clk = cp_cal_utc_ns(&L.cal, cp_days_from_civil(2026, 7, 1), 10 * 60);
	L.now = clk;
	ERR("list", -EINVAL, "list 202606: its last trading day 2026-06-30 is over");
	assert_null(cp_life_find(&L, 202606));
	/* The spot month is a month not yet over: none of these. */
	OK("spot", "no spot month");
}

/* The operator's views: the spot month, one contract in full (the day's volume, VWAP,
 * high, low, last; the uncross; the indicative auction), and limits outside the book's
 * price range refused with the range named. */
static void test_views(void **state)
{
	(void)state;
	char out[8192], line[256];
	OK("spot", "spot month 202603 TKN2603, last trading day 2026-03-31, LISTED");
	assert_int_equal(exec("contracts", out, sizeof(out)), 0);
	assert_non_null(strstr(contract_line(out, 202603, line, sizeof(line)), " spot"));
	assert_null(strstr(contract_line(out, 202604, line, sizeof(line)), " spot"));
	fk.uncross_price = 25120;
	fk.uncross_qty = 5;
	OK("tick", "transition(s)"); /* pre-open, uncross, continuous */
	fk_trade(&fk, 202603, 25100, 10);
	fk_trade(&fk, 202603, 25200, 30);
	fk.ind_price = 25150;
	fk.ind_qty = 7;
	fk.ind_imbalance = -3;
	OK("show 202603", "contract 202603 TKN2603: CONTINUOUS, core 0, the spot month\n"
	   "reference 2.5000, limits [2.1000, 2.9000] (1600 bp, first day)\n"
	   "book price range [1.2500, 3.7500] (follows the market at pre-open)\n"
	   "last trading day 2026-03-31, days traded 0\n"
	   "day: volume 40, VWAP 2.5175, high 2.5200, low 2.5100, last 2.5200\n"
	   "uncross: 2.5120, volume 5\n"
	   "indicative auction: 2.5150, volume 7, imbalance -3 (the book as it is; no auction "
	   "now)\n");
	ERR("show 209912", -ENOENT, "no contract 209912");
	/* Limits the book cannot hold: the reason, not "Numerical result out of range". */
	ERR("limits 202603 1.0000 2.6000", -ERANGE, "contract 202603: limits [1.0000, 2.6000] "
	    "are outside the book's price range [1.2500, 3.7500]: give limits inside it");
	assert_int_equal(fk_find(&fk, 202603)->lo, 21000); /* unchanged */
	assert_int_equal(exec("limits 202603 1.0000 2.6000", out, sizeof(out)), -ERANGE);
	assert_null(strstr(out, "Numerical result"));
	OK("limits 202603 1.2500 2.6000", "202603 limits [1.2500, 2.6000]");
}

static void test_startup_file(void **state)
{
	(void)state;
	char path[64], err[256];
	snprintf(path, sizeof(path), "/tmp/tokex-startup-%d.cmd", (int)getpid());
	FILE *f = fopen(path, "w");
	fprintf(f, "# start-up\naccount 1 7 50 100\n\nkill 2 0 on\nhalt 209912\nkill 3 0 on\n");
	fclose(f);
	assert_int_equal(cp_cmd_file(&X, path, err, sizeof(err)), -ENOENT);
	char want[128];
	snprintf(want, sizeof(want), "%s:5: no contract 209912 (see 'contracts')", path);
	assert_string_equal(err, want);
	assert_int_equal(fk.kills, 1); /* stopped at the bad line */
	unlink(path);
	assert_int_equal(cp_cmd_file(&X, path, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot open"));
}

struct client {
	pthread_t th;
	int fd;           /* connected fd, or -1: connect to path */
	const char *path;
	int (*script)(int fd); /* NULL: client_script */
	int rc;
	atomic_int done;
};

static int client_script(int fd);

static void *client_main(void *arg)
{
	struct client *c = arg;
	char err[256];
	int fd = c->fd >= 0 ? c->fd : cp_client_connect(c->path, err, sizeof(err));
	c->rc = fd < 0 ? 10 : (c->script ? c->script : client_script)(fd);
	if (fd >= 0)
		close(fd);
	atomic_store(&c->done, 1);
	return NULL;
}

/* Polls the server until the client thread is done (10 s at most). */
static int serve_client(struct cp_server *srv, struct client *c)
{
	atomic_init(&c->done, 0);
	assert_int_equal(pthread_create(&c->th, NULL, client_main, c), 0);
	for (int i = 0; i < 2000 && !atomic_load(&c->done); i++)
		cp_server_poll(srv, 5);
	if (!atomic_load(&c->done))
		return 98; /* the thread is left blocked; the test fails */
	pthread_join(c->th, NULL);
	return c->rc;
}

static int client_script(int fd)
{
	char err[256];
	FILE *out = tmpfile();
	if (cp_client_call(fd, "contracts", out, err, sizeof(err)) != 0)
		return 1;
	rewind(out);
	char line[256];
	int lines = 0, seen = 0;
	while (fgets(line, sizeof(line), out)) {
		lines++;
		if (strstr(line, "202604   TKN2604  LISTED"))
			seen = 1;
	}
	if (lines != 4 || !seen)
		return 2;
	if (cp_client_call(fd, "halt 209912", NULL, err, sizeof(err)) != -ENOENT ||
	    strcmp(err, "no contract 209912 (see 'contracts')") != 0)
		return 3;
	if (cp_client_call(fd, "kill 1 7 on", NULL, err, sizeof(err)) != 0)
		return 4;
	if (cp_client_call(fd, "bad\ncommand", NULL, err, sizeof(err)) != -EINVAL)
		return 5;
	if (cp_client_call(fd, "# nothing", NULL, err, sizeof(err)) != 0)
		return 6;
	return 0;
}

static void test_socketpair(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct cp_server srv;
	char err[256];
	assert_int_equal(cp_server_open(&srv, NULL, &X, err, sizeof(err)), 0);
	cp_server_adopt(&srv, sv[0]);
	struct client c = {.fd = sv[1]};
	assert_int_equal(serve_client(&srv, &c), 0);
	assert_int_equal(fk.kills, 1);
	assert_int_equal(srv.requests, 4); /* the line with a newline never left the client */
	cp_server_close(&srv);
}

static void test_unix_path(void **state)
{
	(void)state;
	char dir[64], path[96], err[256];
	snprintf(dir, sizeof(dir), "/tmp/tokex-ctl-%d", (int)getpid());
	snprintf(path, sizeof(path), "%s/run/tokexd.sock", dir); /* directories made */
	struct cp_server srv;
	assert_int_equal(cp_server_open(&srv, path, &X, err, sizeof(err)), 0);
	/* A second server on the same path is refused: someone answers there. */
	struct cp_server srv2;
	assert_int_equal(cp_server_open(&srv2, path, &X, err, sizeof(err)), -EADDRINUSE);
	assert_non_null(strstr(err, "another tokexd is listening"));
	struct client c = {.fd = -1, .path = path};
	assert_int_equal(serve_client(&srv, &c), 0);
	cp_server_close(&srv);
	struct stat st;
	assert_int_equal(stat(path, &st), -1); /* removed on close */
	assert_true(cp_client_connect(path, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "is tokexd running?"));
	/* A listener that does not accept, its queue full: refused at once, not a connect()
	 * that blocks for ever. */
	{
		struct sockaddr_un ua = {.sun_family = AF_UNIX};
		int lfd = socket(AF_UNIX, SOCK_STREAM, 0), cfd[64], nc = 0;
		snprintf(ua.sun_path, sizeof(ua.sun_path), "%s", path);
		assert_int_equal(bind(lfd, (struct sockaddr *)&ua, sizeof(ua)), 0);
		assert_int_equal(listen(lfd, 0), 0);
		for (; nc < 64; nc++) { /* fill the queue until a connect would block */
			cfd[nc] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
			if (connect(cfd[nc], (struct sockaddr *)&ua, sizeof(ua)) < 0) {
				assert_int_equal(errno, EAGAIN);
				close(cfd[nc]);
				break;
			}
		}
		assert_true(nc < 64);
		alarm(60); /* the old blocking probe hangs here: SIGALRM ends the test */
		assert_int_equal(cp_server_open(&srv2, path, &X, err, sizeof(err)), -EADDRINUSE);
		alarm(0);
		assert_non_null(strstr(err, "queue is full"));
		while (nc > 0)
			close(cfd[--nc]);
		close(lfd);
		unlink(path);
	}
	/* A stale socket file (no listener) is replaced. */
	assert_int_equal(cp_server_open(&srv, path, &X, err, sizeof(err)), 0);
	int fd = srv.lfd;
	srv.lfd = -1; /* "crash": leave the file behind */
	close(fd);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(cp_server_open(&srv, path, &X, err, sizeof(err)), 0);
	cp_server_close(&srv);
	char sub[80];
	snprintf(sub, sizeof(sub), "%s/run", dir);
	rmdir(sub);
	rmdir(dir);
	/* A path too long for a Unix socket. */
	char lp[200];
	memset(lp, 'a', sizeof(lp) - 1);
	lp[0] = '/';
	lp[sizeof(lp) - 1] = '\0';
	assert_int_equal(cp_server_open(&srv, lp, &X, err, sizeof(err)), -ENAMETOOLONG);
}

static const char *tokexctl_path; /* argv[1]: the built tokexctl */
static int merge_output; /* run_tokexctl: its standard error into its standard output's pipe */

/* Runs tokexctl with args (stdin = the inlen bytes of input) while this thread serves it;
 * returns its exit status with its stdout and stderr in out/errout. */
static int run_tokexctl_n(struct cp_server *srv, const char *const *args, const char *input,
			  size_t inlen, char *out, size_t outlen, char *errout, size_t errlen)
{
	int in_p[2], out_p[2], err_p[2];
	assert_int_equal(pipe(in_p), 0);
	assert_int_equal(pipe(out_p), 0);
	assert_int_equal(pipe(err_p), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(in_p[0], 0);
		dup2(out_p[1], 1);
		dup2(merge_output ? out_p[1] : err_p[1], 2);
		close(in_p[1]);
		close(out_p[0]);
		close(err_p[0]);
		execv(tokexctl_path, (char *const *)(uintptr_t)args);
		_exit(127);
	}
	close(in_p[0]);
	close(out_p[1]);
	close(err_p[1]);
	if (input)
		assert_true(write(in_p[1], input, inlen) == (ssize_t)inlen);
	close(in_p[1]);
	int status = -1;
	for (int i = 0; i < 2000; i++) {
		cp_server_poll(srv, 5);
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
	}
	ssize_t n = read(out_p[0], out, outlen - 1);
	out[n > 0 ? n : 0] = '\0';
	n = read(err_p[0], errout, errlen - 1);
	errout[n > 0 ? n : 0] = '\0';
	close(out_p[0]);
	close(err_p[0]);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 99;
}

static int run_tokexctl(struct cp_server *srv, const char *const *args, const char *input,
			char *out, size_t outlen, char *errout, size_t errlen)
{
	return run_tokexctl_n(srv, args, input, input ? strlen(input) : 0, out, outlen, errout,
			      errlen);
}

/* The real tokexctl program against the server on a temporary socket path. */
static void test_tokexctl(void **state)
{
	(void)state;
	if (!tokexctl_path) {
		skip(); /* run by CTest with the program's path as argv[1] */
		return;
	}
	char path[96], err[256], out[8192], eout[1024];
	snprintf(path, sizeof(path), "/tmp/tokexctl-test-%d.sock", (int)getpid());
	struct cp_server srv;
	assert_int_equal(cp_server_open(&srv, path, &X, err, sizeof(err)), 0);
	const char *const a1[] = {"tokexctl", "-s", path, "contracts", NULL};
	assert_int_equal(run_tokexctl(&srv, a1, NULL, out, sizeof(out), eout, sizeof(eout)), 0);
	assert_non_null(strstr(out, "202605   TKN2605  LISTED"));
	assert_null(strstr(out, "OK"));
	/* Words are joined into one command line. */
	const char *const a2[] = {"tokexctl", "-s", path, "kill", "1", "7", "on", NULL};
	assert_int_equal(run_tokexctl(&srv, a2, NULL, out, sizeof(out), eout, sizeof(eout)), 0);
	assert_string_equal(out, "kill switch 1/7 on\n");
	assert_int_equal(fk.kills, 1);
	/* An impossible request: exit 1 and the operator's text on stderr. */
	const char *const a3[] = {"tokexctl", "-s", path, "settle", "202603", NULL};
	assert_int_equal(run_tokexctl(&srv, a3, NULL, out, sizeof(out), eout, sizeof(eout)), 1);
	assert_non_null(strstr(eout, "tokexctl: contract 202603 is LISTED: cannot settle it"));
	/* Commands on standard input; one bad one makes the status 1, the rest still run. */
	const char *const a4[] = {"tokexctl", "-s", path, NULL};
	assert_int_equal(run_tokexctl(&srv, a4, "halt 209912\n# comment\ncalendar\n", out,
				      sizeof(out), eout, sizeof(eout)), 1);
	assert_non_null(strstr(eout, "halt 209912: no contract 209912"));
	assert_non_null(strstr(out, "session 1 09:00-10:15"));
	/* No daemon: exit 2 and what to check. */
	cp_server_close(&srv);
	assert_int_equal(run_tokexctl(&srv, a1, NULL, out, sizeof(out), eout, sizeof(eout)), 2);
	assert_non_null(strstr(eout, "is tokexd running?"));
	const char *const a5[] = {"tokexctl", "--bogus", NULL};
	assert_int_equal(run_tokexctl(&srv, a5, NULL, out, sizeof(out), eout, sizeof(eout)), 2);
	assert_non_null(strstr(eout, "usage: tokexctl"));
}

/* How many kill switch commands the fake core got for firm/account. */
static int fk_find_kill(const struct fake_core *f, uint32_t firm, uint32_t account)
{
	int n = 0;
	for (uint32_t i = 0; i < f->n_got; i++)
		n += f->got[i].type == DP_CTL_KILL && f->got[i].firm_id == firm &&
		     f->got[i].account == account;
	return n;
}

/* A NUL in a line used to end it for the parser: "kill 1 7 on\0kill 2 7 on" ran the first
 * command and dropped the second unseen. Every way in refuses such a line whole. */
static int nul_script(int fd)
{
	static const char req[] = "kill 1 7 on\0kill 2 7 on\nkill 2 7 on\n";
	if (write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1))
		return 1;
	char ans[512];
	size_t n = 0;
	/* Two answers: the refusal, then the second line's OK. */
	while (n < sizeof(ans) - 1) {
		ssize_t r = read(fd, ans + n, sizeof(ans) - 1 - n);
		if (r <= 0)
			return 2;
		n += (size_t)r;
		ans[n] = '\0';
		if (strstr(ans, "OK\n"))
			break;
	}
	if (strncmp(ans, "ERR 22 the command line holds the control byte 0x00 at column 12: "
		    "nothing of it was run\n", 88) != 0)
		return 3;
	return 0;
}

static void test_control_bytes(void **state)
{
	(void)state;
	/* Over the socket (a raw client: tokexctl would not send it). */
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct cp_server srv;
	char err[256];
	assert_int_equal(cp_server_open(&srv, NULL, &X, err, sizeof(err)), 0);
	cp_server_adopt(&srv, sv[0]);
	struct client c = {.fd = sv[1], .script = nul_script};
	assert_int_equal(serve_client(&srv, &c), 0);
	assert_int_equal(fk.kills, 1); /* only the line after it */
	assert_int_equal(fk_find_kill(&fk, 2, 7), 1);
	assert_int_equal(fk_find_kill(&fk, 1, 7), 0);
	cp_server_close(&srv);

	/* Other control bytes, given to the parser directly. */
	ERR("kill 1 7 on\x01", -EINVAL, "control byte 0x01 at column 12");
	ERR("kill 1 7\x1b[2K on", -EINVAL, "control byte 0x1b at column 9");
	ERR("kill 1\n7 on", -EINVAL, "control byte 0x0a at column 7");
	OK("kill 1 7 off\r\n", "kill switch 1/7 off"); /* CR LF ends a line */
	OK("kill\t1 7 off", "kill switch 1/7 off");     /* a tab is a blank */

	/* In a start-up file: the NUL line stops the file, nothing of it run; a line too
	 * long for a command is refused whole, not run as two. */
	char path[64], want[160];
	snprintf(path, sizeof(path), "/tmp/tokex-startup-nul-%d.cmd", (int)getpid());
	FILE *f = fopen(path, "w");
	static const char nul[] = "# start-up\nkill 1 8 on\0kill 2 8 on\nkill 2 9 on\n";
	fwrite(nul, 1, sizeof(nul) - 1, f);
	fclose(f);
	int k0 = fk.kills;
	assert_int_equal(cp_cmd_file(&X, path, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:2: the command line holds the control byte 0x00 at "
		 "column 12: nothing of it was run", path);
	assert_string_equal(err, want);
	assert_int_equal(fk.kills, k0);
	f = fopen(path, "w");
	fprintf(f, "kill 1 8 on %*s kill 2 8 on\nkill 2 9 on\n", 600, "#");
	fclose(f);
	assert_int_equal(cp_cmd_file(&X, path, err, sizeof(err)), -E2BIG);
	snprintf(want, sizeof(want), "%s:1: command longer than 511 characters", path);
	assert_string_equal(err, want);
	assert_int_equal(fk.kills, k0);
	unlink(path);

	/* tokexctl reading standard input: the line is not sent; the others are. */
	if (!tokexctl_path)
		return;
	char sock[96], out[4096], eout[1024];
	snprintf(sock, sizeof(sock), "/tmp/tokexctl-nul-%d.sock", (int)getpid());
	assert_int_equal(cp_server_open(&srv, sock, &X, err, sizeof(err)), 0);
	const char *const a[] = {"tokexctl", "-s", sock, NULL};
	static const char in[] = "kill 1 9 on\0kill 2 9 on\nkill 3 9 on\n";
	k0 = fk.kills;
	assert_int_equal(run_tokexctl_n(&srv, a, in, sizeof(in) - 1, out, sizeof(out), eout,
					sizeof(eout)), 1);
	assert_non_null(strstr(eout, "tokexctl: line 1: the command line holds the control byte "
				     "0x00 at column 12"));
	assert_int_equal(fk.kills, k0); /* firm 3 is unknown: nothing ran at all */
	assert_non_null(strstr(eout, "kill 3 9 on: kill: no firm 3"));
	cp_server_close(&srv);
}

/* help describes every command and needs no lifecycle; tokexctl answers help and -h
 * without tokexd. */
static void test_help_offline(void **state)
{
	(void)state;
	char out[16384];
	assert_int_equal(cp_cmd_help(NULL, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "delist ID confirm\n    Removes a final-settled month"));
	assert_non_null(strstr(out, "show ID\n    One contract in full"));
	assert_int_equal(cp_cmd_help("cancel", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "cancel FIRM ACCOUNT [ID]\n    Mass cancel"));
	assert_null(strstr(out, "kill FIRM"));
	assert_int_equal(cp_cmd_help("frob", out, sizeof(out)), -ENOSYS);
	assert_non_null(strstr(out, "help: no command 'frob'"));
	OK("help limits", "inside the book's price range");
	if (!tokexctl_path) {
		skip();
		return;
	}
	struct cp_server srv;
	char err[256], eout[1024];
	assert_int_equal(cp_server_open(&srv, NULL, &X, err, sizeof(err)), 0);
	const char *none = "/tmp/tokexctl-no-daemon-here.sock";
	const char *const a1[] = {"tokexctl", "-s", none, "help", NULL};
	assert_int_equal(run_tokexctl(&srv, a1, NULL, out, sizeof(out), eout, sizeof(eout)), 0);
	assert_non_null(strstr(out, "kill FIRM ACCOUNT on|off\n    Kill switch"));
	const char *const a2[] = {"tokexctl", "-s", none, "help", "delist", NULL};
	assert_int_equal(run_tokexctl(&srv, a2, NULL, out, sizeof(out), eout, sizeof(eout)), 0);
	assert_non_null(strstr(out, "Without 'confirm'"));
	const char *const a3[] = {"tokexctl", "-h", NULL};
	assert_int_equal(run_tokexctl(&srv, a3, NULL, out, sizeof(out), eout, sizeof(eout)), 0);
	assert_non_null(strstr(out, "Commands: help ping contracts show spot calendar"));
	const char *const a4[] = {"tokexctl", "-s", none, "help", "frob", NULL};
	assert_int_equal(run_tokexctl(&srv, a4, NULL, out, sizeof(out), eout, sizeof(eout)), 1);
	assert_non_null(strstr(eout, "no command 'frob'"));
	/* A command that needs tokexd still says it is not there. */
	const char *const a5[] = {"tokexctl", "-s", none, "contracts", NULL};
	assert_int_equal(run_tokexctl(&srv, a5, NULL, out, sizeof(out), eout, sizeof(eout)), 2);
	/* Standard input: help lines answered here too. */
	const char *const a6[] = {"tokexctl", "-s", none, NULL};
	assert_int_equal(run_tokexctl(&srv, a6, "help spot\n", out, sizeof(out), eout,
				      sizeof(eout)), 0);
	assert_non_null(strstr(out, "spot\n    The spot month"));
	cp_server_close(&srv);
}

/* Line n (0-based) of text as a JSON object (tokexctl --json writes one per line). */
static json_t *json_line(const char *text, int n)
{
	for (; n > 0 && text; n--) {
		text = strchr(text, '\n');
		if (text)
			text++;
	}
	assert_non_null(text);
	json_error_t e;
	json_t *o = json_loadb(text, strcspn(text, "\n"), 0, &e);
	if (!o)
		fail_msg("not a JSON object: %.*s (%s)", (int)strcspn(text, "\n"), text, e.text);
	assert_true(json_is_object(o));
	return o;
}

/* tokexctl: --json for every command (and for failures), ping, help without tokexd in
 * JSON, batch mode's order of answers and errors in one stream, the exit codes in --help. */
static void test_tokexctl_json_ping(void **state)
{
	(void)state;
	if (!tokexctl_path) {
		skip();
		return;
	}
	char path[108], err[256], out[16384], eout[4096];
	snprintf(path, sizeof(path), "/tmp/tokexctl-json-%d.sock", (int)getpid());
	X.ident = "tokexd-test pid 42";
	struct cp_server srv;
	assert_int_equal(cp_server_open(&srv, path, &X, err, sizeof(err)), 0);

	/* A command's output lines, as an array. */
	const char *const a1[] = {"tokexctl", "--json", "-s", path, "contracts", NULL};
	assert_int_equal(run_tokexctl(&srv, a1, NULL, out, sizeof(out), eout, sizeof(eout)), 0);
	assert_string_equal(eout, "");
	json_t *o = json_line(out, 0);
	assert_string_equal(json_string_value(json_object_get(o, "command")), "contracts");
	assert_true(json_is_true(json_object_get(o, "ok")));
	json_t *lines = json_object_get(o, "output");
	assert_true(json_is_array(lines) && json_array_size(lines) >= 2);
	assert_non_null(strstr(json_string_value(json_array_get(lines, 1)), "202603"));
	json_decref(o);
	/* tokexd's refusal: errno and text, exit 1, nothing on standard error. */
	const char *const a2[] = {"tokexctl", "-j", "-s", path, "settle", "202603", NULL};
	assert_int_equal(run_tokexctl(&srv, a2, NULL, out, sizeof(out), eout, sizeof(eout)), 1);
	assert_string_equal(eout, "");
	o = json_line(out, 0);
	assert_true(json_is_false(json_object_get(o, "ok")));
	assert_true(json_integer_value(json_object_get(o, "errno")) > 0);
	assert_non_null(strstr(json_string_value(json_object_get(o, "error")),
			       "contract 202603 is LISTED: cannot settle it"));
	json_decref(o);
	/* ping: who answers, and the round trip. */
	const char *const a3[] = {"tokexctl", "-j", "-s", path, "ping", NULL};
	assert_int_equal(run_tokexctl(&srv, a3, NULL, out, sizeof(out), eout, sizeof(eout)), 0);
	o = json_line(out, 0);
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "output"), 0)),
			    "pong tokexd-test pid 42");
	assert_true(json_is_real(json_object_get(o, "rtt_us")));
	assert_true(json_real_value(json_object_get(o, "rtt_us")) > 0);
	json_decref(o);
	const char *const a4[] = {"tokexctl", "-s", path, "ping", NULL};
	assert_int_equal(run_tokexctl(&srv, a4, NULL, out, sizeof(out), eout, sizeof(eout)), 0);
	assert_true(strncmp(out, "pong tokexd-test pid 42 (round trip ", 36) == 0);
	assert_non_null(strstr(out, " us)\n"));
	/* Batch mode in JSON: an object per line, the refused ones too. */
	const char *const a5[] = {"tokexctl", "--json", "-s", path, NULL};
	assert_int_equal(run_tokexctl(&srv, a5, "spot\nfrob\nhelp kill\nping\n", out,
				      sizeof(out), eout, sizeof(eout)), 1);
	assert_string_equal(eout, "");
	const char *want[] = {"spot", "frob", "help kill", "ping"};
	for (int i = 0; i < 4; i++) {
		o = json_line(out, i);
		assert_string_equal(json_string_value(json_object_get(o, "command")), want[i]);
		assert_int_equal(json_is_true(json_object_get(o, "ok")), i != 1);
		json_decref(o);
	}
	/* Batch mode in text, standard output and error into one pipe: in the commands'
	 * order. */
	merge_output = 1;
	const char *const a6[] = {"tokexctl", "-s", path, NULL};
	int rc = run_tokexctl(&srv, a6, "spot\nfrob\ncalendar\nhelp frob\nping\n", out,
			      sizeof(out), eout, sizeof(eout));
	merge_output = 0;
	assert_int_equal(rc, 1);
	const char *p1 = strstr(out, "spot"), *p2 = strstr(out, "tokexctl: frob: unknown command");
	const char *p3 = p2 ? strstr(p2, "now") : NULL, *p4 = p3 ? strstr(p3, "no command 'frob'") : NULL;
	const char *p5 = p4 ? strstr(p4, "pong") : NULL;
	if (!(p1 && p2 && p1 < p2 && p3 && p4 && p5))
		fail_msg("batch output out of order:\n%s", out);
	cp_server_close(&srv);

	/* Without tokexd: help in JSON works, a command is a JSON failure with exit 2. */
	const char *none = "/tmp/tokexctl-no-daemon-here.sock";
	const char *const b1[] = {"tokexctl", "-j", "-s", none, "help", "ping", NULL};
	assert_int_equal(run_tokexctl(&srv, b1, NULL, out, sizeof(out), eout, sizeof(eout)), 0);
	o = json_line(out, 0);
	assert_true(json_is_true(json_object_get(o, "ok")));
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "output"), 0)),
			    "ping");
	json_decref(o);
	const char *const b2[] = {"tokexctl", "-j", "-s", none, "ping", NULL};
	assert_int_equal(run_tokexctl(&srv, b2, NULL, out, sizeof(out), eout, sizeof(eout)), 2);
	o = json_line(out, 0);
	assert_true(json_is_false(json_object_get(o, "ok")));
	assert_non_null(strstr(json_string_value(json_object_get(o, "error")), "is tokexd running?"));
	json_decref(o);
	/* The exit codes, in --help. */
	const char *const b3[] = {"tokexctl", "--help", NULL};
	assert_int_equal(run_tokexctl(&srv, b3, NULL, out, sizeof(out), eout, sizeof(eout)), 0);
	assert_non_null(strstr(out, "Exit status:\n  0  every command succeeded\n  1  a command failed"));
	assert_non_null(strstr(out, "  2  bad usage"));
	assert_non_null(strstr(out, "  3  the connection was lost"));
	assert_non_null(strstr(out, "-j, --json"));
}

/* kill, account and cancel name firms of the configuration; an unknown one used to be
 * accepted ("kill switch 99/7 on") and protected nothing. */
static void test_unknown_firm(void **state)
{
	(void)state;
	ERR("kill 99 7 on", -ENOENT, "kill: no firm 99 (the configuration's firms: 1 2)");
	ERR("account 99 7 50 100", -ENOENT, "account: no firm 99 (the configuration's firms: 1 2)");
	ERR("cancel 99 7", -ENOENT, "cancel: no firm 99");
	ERR("cancel 99 0 202603", -ENOENT, "cancel: no firm 99");
	assert_int_equal(fk.kills, 0);
	OK("kill 2 7 on", "kill switch 2/7 on");
	OK("account 2 7 50 100", "account 2/7 set");
	OK("cancel 0 0", "mass cancel 0/0: 0 order(s) cancelled"); /* firm 0: everyone */
	if (!tokexctl_path)
		return;
	char sock[96], err[256], out[4096], eout[1024];
	snprintf(sock, sizeof(sock), "/tmp/tokexctl-firm-%d.sock", (int)getpid());
	struct cp_server srv;
	assert_int_equal(cp_server_open(&srv, sock, &X, err, sizeof(err)), 0);
	const char *const a[] = {"tokexctl", "-s", sock, "kill", "99", "7", "on", NULL};
	assert_int_equal(run_tokexctl(&srv, a, NULL, out, sizeof(out), eout, sizeof(eout)), 1);
	assert_non_null(strstr(eout, "tokexctl: kill: no firm 99"));
	assert_int_equal(fk.kills, 1);
	cp_server_close(&srv);
}

/* 40 idle connections used to fill the 8 slots and lock tokexctl out ("too many control
 * connections"): now the quietest one is closed to admit each new one. */
static void test_idle_lockout(void **state)
{
	(void)state;
	char path[96], err[256], out[4096], eout[1024];
	snprintf(path, sizeof(path), "/tmp/tokexctl-idle-%d.sock", (int)getpid());
	struct cp_server srv;
	assert_int_equal(cp_server_open(&srv, path, &X, err, sizeof(err)), 0);
	int idle[40];
	for (int i = 0; i < 40; i++) {
		idle[i] = cp_client_connect(path, err, sizeof(err));
		assert_true(idle[i] >= 0);
		/* Accepted before the next connect, so the listen backlog never fills. */
		for (int t = 0; t < 2000 && srv.accepted < (unsigned long)i + 1; t++)
			cp_server_poll(&srv, 5);
		assert_int_equal(srv.accepted, i + 1);
	}
	assert_int_equal(srv.evicted, 40 - CP_SERVER_CONNS);
	/* The first one was told why, then closed. */
	char line[256];
	ssize_t n = read(idle[0], line, sizeof(line) - 1);
	assert_true(n > 0);
	line[n] = '\0';
	assert_non_null(strstr(line, "ERR 103 closed: every control connection was in use"));
	assert_int_equal(read(idle[0], line, sizeof(line)), 0);
	if (tokexctl_path) {
		const char *const a[] = {"tokexctl", "-s", path, "kill", "1", "7", "on", NULL};
		assert_int_equal(run_tokexctl(&srv, a, NULL, out, sizeof(out), eout, sizeof(eout)), 0);
		assert_string_equal(out, "kill switch 1/7 on\n");
	} else {
		struct client c = {.fd = -1, .path = path};
		assert_int_equal(serve_client(&srv, &c), 0);
	}
	assert_int_equal(fk.kills, 1);
	/* The newest idle connection still works: only the quietest ones made room. */
	struct client c2 = {.fd = idle[39]};
	assert_int_equal(serve_client(&srv, &c2), 0);
	idle[39] = -1; /* closed by client_main */
	for (int i = 0; i < 40; i++)
		if (idle[i] >= 0)
			close(idle[i]);
	cp_server_close(&srv);
}

/* control.socket naming something that is not a socket: it used to be deleted, bound
 * over and removed again at stop. Now refused and left as it was. */
static void test_path_not_socket(void **state)
{
	(void)state;
	char dir[64], path[96], link[112], err[512];
	struct cp_server srv;
	struct stat st;
	snprintf(dir, sizeof(dir), "/tmp/tokex-ctl-ns-%d", (int)getpid());
	assert_int_equal(mkdir(dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/tokexd.sock", dir);
	FILE *f = fopen(path, "w");
	fputs("precious\n", f);
	fclose(f);
	assert_int_equal(cp_server_open(&srv, path, &X, err, sizeof(err)), -ENOTSOCK);
	char want[256];
	snprintf(want, sizeof(want), "control.socket: %s exists and is a regular file, not a "
		 "socket: refusing to replace it; remove it or choose another path", path);
	assert_string_equal(err, want);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode) && st.st_size == 9);
	/* A symbolic link (to that file) is not followed or removed either. */
	snprintf(link, sizeof(link), "%s/link.sock", dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(cp_server_open(&srv, link, &X, err, sizeof(err)), -ENOTSOCK);
	assert_non_null(strstr(err, "is a symbolic link, not a socket"));
	assert_int_equal(lstat(link, &st), 0);
	unlink(link);
	/* A directory. */
	assert_int_equal(cp_server_open(&srv, dir, &X, err, sizeof(err)), -ENOTSOCK);
	assert_non_null(strstr(err, "is a directory, not a socket"));
	/* An empty path: no operator socket at all. */
	assert_int_equal(cp_server_open(&srv, "", &X, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "control.socket: empty"));
	/* At close, only the socket it bound is removed: a file put there since stays. */
	unlink(path);
	assert_int_equal(cp_server_open(&srv, path, &X, err, sizeof(err)), 0);
	assert_int_equal(unlink(path), 0);
	f = fopen(path, "w");
	fputs("someone else's\n", f);
	fclose(f);
	cp_server_close(&srv);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(path);
	rmdir(dir);
}

int main(int argc, char **argv)
{
	tokexctl_path = argc > 1 ? argv[1] : NULL;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_tokexctl, setup),
		cmocka_unit_test_setup(test_tokexctl_json_ping, setup),
		cmocka_unit_test_setup(test_commands, setup),
		cmocka_unit_test_setup(test_final_and_delist, setup),
		cmocka_unit_test_setup(test_list_roll, setup),
		cmocka_unit_test_setup(test_list_past, setup),
		cmocka_unit_test_setup(test_views, setup),
		cmocka_unit_test_setup(test_help_offline, setup),
		cmocka_unit_test_setup(test_startup_file, setup),
		cmocka_unit_test_setup(test_socketpair, setup),
		cmocka_unit_test_setup(test_unix_path, setup),
		cmocka_unit_test_setup(test_control_bytes, setup),
		cmocka_unit_test_setup(test_unknown_firm, setup),
		cmocka_unit_test_setup(test_idle_lockout, setup),
		cmocka_unit_test_setup(test_path_not_socket, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
