/*
 * test_hw_sim.c - the top-N level engine's simulation API (hw/sim/hw_sim.h) and the
 * semantics of each operation (hw/rtl/hw_side.v), on the Verilated models N = 4 and 8;
 * and back-to-back bursts (the pipeline's forwarding) against one-at-a-time runs.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "hw_sim.h"

static struct hw_sim *open4(void)
{
	struct hw_sim *s = hw_sim_open(4);
	assert_non_null(s);
	return s;
}

static void op_ok(struct hw_sim *s, int op, int side, int64_t p, int64_t q, int code,
		  int flags)
{
	struct hw_sim_result r;
	assert_int_equal(hw_sim_op(s, op, side, p, q, &r), 0);
	assert_int_equal(r.code, code);
	assert_int_equal(r.flags, flags);
}

static void expect_side(struct hw_sim *s, int side, const int64_t *p, const int64_t *q,
			int n)
{
	int64_t gp[8], gq[8];
	assert_int_equal(hw_sim_top(s, side, gp, gq, 8), n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(gp[i], p[i]);
		assert_int_equal(gq[i], q[i]);
	}
}

static void test_open_args(void **state)
{
	(void)state;
	errno = 0;
	assert_null(hw_sim_open(5));
	assert_int_equal(errno, EINVAL);
	struct hw_sim *s = hw_sim_open(8);
	assert_non_null(s);
	assert_int_equal(hw_sim_n_levels(s), 8);
	assert_int_equal(hw_sim_cycles(s), 1); /* the reset cycle */
	struct hw_sim_result r;
	assert_int_equal(hw_sim_op(s, 9, 0, 1, 1, &r), -EINVAL);
	assert_int_equal(hw_sim_op(s, HW_OP_ADD, 2, 1, 1, &r), -EINVAL);
	assert_int_equal(hw_sim_op(s, HW_OP_ADD, 0, -1, 1, &r), -ERANGE);
	assert_int_equal(hw_sim_op(s, HW_OP_ADD, 0, 1, -1, &r), -ERANGE);
	assert_int_equal(hw_sim_op(s, HW_OP_ADD, 0, 1, HW_SIM_QTY_MAX + 1, &r), -ERANGE);
	assert_int_equal(hw_sim_op(s, HW_OP_ADD, 0, HW_SIM_TICKS_MAX + 1, 1, &r), -ERANGE);
	assert_int_equal(hw_sim_cycles(s), 1); /* nothing reached the engine */
	assert_int_equal(hw_sim_op(s, HW_OP_ADD, 0, HW_SIM_TICKS_MAX, 1, &r), 0);
	assert_int_equal(hw_sim_cycles(s), 1 + HW_SIM_LATENCY);
	assert_int_equal(hw_sim_set_map(s, 0, 0), -EINVAL);
	hw_sim_close(s);
	hw_sim_close(NULL);
}

static void test_price_map(void **state)
{
	(void)state;
	struct hw_sim *s = open4();
	assert_int_equal(hw_sim_set_map(s, 5000000, 100), 0);
	struct hw_sim_result r;
	assert_int_equal(hw_sim_op(s, HW_OP_ADD, 0, 5000050, 1, &r), -ERANGE); /* off grid */
	assert_int_equal(hw_sim_op(s, HW_OP_ADD, 0, 4999900, 1, &r), -ERANGE); /* below */
	op_ok(s, HW_OP_ADD, 0, 5012300, 7, HW_OK, 0);
	assert_int_equal(hw_sim_op(s, HW_OP_ADD, 1, 5012400, 3, &r), 0);
	assert_int_equal(r.best_price[0], 5012300);
	assert_int_equal(r.best_qty[0], 7);
	assert_int_equal(r.best_price[1], 5012400);
	assert_int_equal(r.best_qty[1], 3);
	hw_sim_close(s);
}

static void test_sorted_insert_evict_miss(void **state)
{
	(void)state;
	struct hw_sim *s = open4();
	struct hw_sim_result r;
	op_ok(s, HW_OP_ADD, 0, 100, 1, HW_OK, 0);
	op_ok(s, HW_OP_ADD, 0, 102, 2, HW_OK, 0);
	op_ok(s, HW_OP_ADD, 0, 101, 3, HW_OK, 0);
	assert_int_equal(hw_sim_op(s, HW_OP_ADD, 0, 99, 4, &r), 0);
	assert_int_equal(r.holes[0], 0);
	assert_int_equal(r.holes[1], 4);
	expect_side(s, 0, (int64_t[]){ 102, 101, 100, 99 }, (int64_t[]){ 2, 3, 1, 4 }, 4);
	op_ok(s, HW_OP_ADD, 0, 98, 5, HW_MISS, 0);          /* worse than a full table */
	op_ok(s, HW_OP_ADD, 0, 103, 6, HW_OK, HW_F_EVICT);  /* 99 falls out */
	expect_side(s, 0, (int64_t[]){ 103, 102, 101, 100 }, (int64_t[]){ 6, 2, 3, 1 }, 4);
	op_ok(s, HW_OP_ADD, 0, 101, 10, HW_OK, 0);          /* hit */
	expect_side(s, 0, (int64_t[]){ 103, 102, 101, 100 }, (int64_t[]){ 6, 2, 13, 1 }, 4);
	/* asks ascend */
	op_ok(s, HW_OP_ADD, 1, 110, 1, HW_OK, 0);
	op_ok(s, HW_OP_ADD, 1, 108, 2, HW_OK, 0);
	op_ok(s, HW_OP_ADD, 1, 109, 3, HW_OK, 0);
	expect_side(s, 1, (int64_t[]){ 108, 109, 110 }, (int64_t[]){ 2, 3, 1 }, 3);
	hw_sim_close(s);
}

static void test_sub_delete_refill(void **state)
{
	(void)state;
	struct hw_sim *s = open4();
	struct hw_sim_result r;
	for (int i = 0; i < 4; i++)
		op_ok(s, HW_OP_ADD, 1, 200 + i, 10, HW_OK, 0);
	op_ok(s, HW_OP_SUB, 1, 250, 1, HW_MISS, 0);
	op_ok(s, HW_OP_SUB, 1, 201, 4, HW_OK, 0);
	assert_int_equal(hw_sim_op(s, HW_OP_SUB, 1, 201, 6, &r), 0);
	assert_int_equal(r.code, HW_OK);
	assert_int_equal(r.flags, HW_F_DEL);
	assert_int_equal(r.holes[1], 1);
	expect_side(s, 1, (int64_t[]){ 200, 202, 203 }, (int64_t[]){ 10, 10, 10 }, 3);
	op_ok(s, HW_OP_REFILL, 1, 202, 5, HW_REJECT, 0);  /* present */
	op_ok(s, HW_OP_REFILL, 1, 199, 5, HW_REJECT, 0);  /* not at the bottom */
	op_ok(s, HW_OP_REFILL, 1, 205, 0, HW_REJECT, 0);  /* qty 0 */
	op_ok(s, HW_OP_REFILL, 1, 205, 5, HW_OK, 0);
	expect_side(s, 1, (int64_t[]){ 200, 202, 203, 205 }, (int64_t[]){ 10, 10, 10, 5 }, 4);
	op_ok(s, HW_OP_REFILL, 1, 206, 5, HW_REJECT, 0);  /* full */
	op_ok(s, HW_OP_SUB, 1, 200, 11, HW_OK, HW_F_DEL | HW_F_UNDER);
	op_ok(s, HW_OP_SUB, 1, 202, 0, HW_REJECT, 0);
	op_ok(s, HW_OP_ADD, 1, 202, 0, HW_REJECT, 0);
	expect_side(s, 1, (int64_t[]){ 202, 203, 205 }, (int64_t[]){ 10, 10, 5 }, 3);
	op_ok(s, HW_OP_NOP, 0, 0, 0, HW_OK, 0);
	hw_sim_close(s);
}

static void test_saturate(void **state)
{
	(void)state;
	struct hw_sim *s = open4();
	op_ok(s, HW_OP_ADD, 0, 7, HW_SIM_QTY_MAX - 1, HW_OK, 0);
	op_ok(s, HW_OP_ADD, 0, 7, 1, HW_OK, 0);
	expect_side(s, 0, (int64_t[]){ 7 }, (int64_t[]){ HW_SIM_QTY_MAX }, 1);
	op_ok(s, HW_OP_ADD, 0, 7, 5, HW_OK, HW_F_SAT);
	expect_side(s, 0, (int64_t[]){ 7 }, (int64_t[]){ HW_SIM_QTY_MAX }, 1);
	op_ok(s, HW_OP_SUB, 0, 7, HW_SIM_QTY_MAX, HW_OK, HW_F_DEL);
	expect_side(s, 0, NULL, NULL, 0);
	hw_sim_close(s);
}

static void test_cross_clear(void **state)
{
	(void)state;
	struct hw_sim *s = open4();
	struct hw_sim_result r;
	assert_int_equal(hw_sim_op(s, HW_OP_ADD, 0, 100, 1, &r), 0);
	assert_false(r.crossed);
	assert_int_equal(hw_sim_op(s, HW_OP_ADD, 1, 101, 1, &r), 0);
	assert_false(r.crossed);
	assert_int_equal(hw_sim_op(s, HW_OP_ADD, 1, 100, 1, &r), 0);
	assert_true(r.crossed); /* bid == ask */
	assert_int_equal(hw_sim_op(s, HW_OP_SUB, 1, 100, 1, &r), 0);
	assert_false(r.crossed);
	assert_int_equal(hw_sim_op(s, HW_OP_ADD, 0, 105, 1, &r), 0);
	assert_true(r.crossed);
	assert_int_equal(hw_sim_op(s, HW_OP_CLEAR, 1, 0, 0, &r), 0);
	assert_int_equal(r.code, HW_OK);
	assert_false(r.crossed);
	assert_int_equal(r.holes[0], 4);
	assert_int_equal(r.holes[1], 4);
	assert_int_equal(r.best_qty[0], 0);
	expect_side(s, 0, NULL, NULL, 0);
	expect_side(s, 1, NULL, NULL, 0);
	hw_sim_close(s);
}

/* Random operations back to back (hw_sim_ops) must give exactly what the same
 * operations one at a time (no two in the pipeline) give: the forwarding in S1. */
static void burst_vs_single(unsigned n, uint32_t seed, int rounds)
{
	struct hw_sim *a = hw_sim_open(n), *b = hw_sim_open(n);
	assert_non_null(a);
	assert_non_null(b);
	srand(seed);
	enum { B = 48 };
	struct hw_sim_cmd ops[B];
	struct hw_sim_result ra[B], rb;
	struct hw_sim_book la[B];
	int64_t p[8], q[8];
	for (int round = 0; round < rounds; round++) {
		for (int i = 0; i < B; i++) {
			int x = rand() % 100;
			memset(&ops[i], 0, sizeof(ops[i]));
			ops[i].op = x < 45 ? HW_OP_ADD : x < 85 ? HW_OP_SUB : x < 99 ? HW_OP_REFILL
										: HW_OP_CLEAR;
			ops[i].side = (uint8_t)(rand() & 1);
			ops[i].price = 100 + rand() % 14;
			ops[i].qty = rand() % 8 == 0 ? HW_SIM_QTY_MAX - rand() % 3 : rand() % 6;
		}
		assert_int_equal(hw_sim_ops(a, ops, B, ra, la), B);
		for (int i = 0; i < B; i++) {
			assert_int_equal(hw_sim_op(b, ops[i].op, ops[i].side, ops[i].price,
						   ops[i].qty, &rb), 0);
			assert_int_equal(ra[i].code, rb.code);
			assert_int_equal(ra[i].flags, rb.flags);
			assert_int_equal(ra[i].crossed, rb.crossed);
			assert_memory_equal(ra[i].holes, rb.holes, 2);
			for (int side = 0; side < 2; side++) {
				int k = hw_sim_top(b, side, p, q, 8);
				assert_int_equal(la[i].n[side], k);
				for (int j = 0; j < k; j++) {
					assert_int_equal(la[i].price[side][j], p[j]);
					assert_int_equal(la[i].qty[side][j], q[j]);
				}
			}
		}
	}
	hw_sim_close(a);
	hw_sim_close(b);
}

static void test_burst_n4(void **state)
{
	(void)state;
	burst_vs_single(4, 1, 400);
}

static void test_burst_n8(void **state)
{
	(void)state;
	burst_vs_single(8, 2, 400);
}

static void test_burst_cycles(void **state)
{
	(void)state;
	struct hw_sim *s = open4();
	struct hw_sim_cmd ops[10];
	struct hw_sim_result r[10];
	memset(ops, 0, sizeof(ops));
	for (int i = 0; i < 10; i++) {
		ops[i].op = HW_OP_ADD;
		ops[i].price = 10 + i;
		ops[i].qty = 1;
	}
	ops[5].price = -1; /* invalid: the burst stops before it */
	uint64_t c0 = hw_sim_cycles(s);
	assert_int_equal(hw_sim_ops(s, ops, 10, r, NULL), 5);
	assert_int_equal(hw_sim_cycles(s) - c0, 5 + HW_SIM_LATENCY - 1);
	assert_int_equal(r[4].cycle, hw_sim_cycles(s));
	assert_int_equal(hw_sim_ops(s, &ops[5], 5, r, NULL), -ERANGE);
	hw_sim_close(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_args),
		cmocka_unit_test(test_price_map),
		cmocka_unit_test(test_sorted_insert_evict_miss),
		cmocka_unit_test(test_sub_delete_refill),
		cmocka_unit_test(test_saturate),
		cmocka_unit_test(test_cross_clear),
		cmocka_unit_test(test_burst_n4),
		cmocka_unit_test(test_burst_n8),
		cmocka_unit_test(test_burst_cycles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
