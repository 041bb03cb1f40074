/*
 * tokex/price.h - prices as people write them and as the wire carries them.
 *
 * Role: off the data path. The wire carries every price as an int64 count of units of
 * 0.0001 of the quote currency (proto.h rule 6: 4 implied decimals); members, operators
 * and tools read and write decimal text ("2.5010"). These two functions are the one
 * conversion every tokex program uses (tokexctl, tokex-mm, tokex-journal, the control
 * plane) and libtokex-client exports.
 */
#ifndef TOKEX_PRICE_H
#define TOKEX_PRICE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TKX_PRICE_DECIMALS 4
#define TKX_PRICE_SCALE 10000 /* units per 1 of the quote currency */
#define TKX_PRICE_TEXT_MAX 22 /* "-922337203685477.5807" and its NUL */

/* Decimal text to units: an optional '-' or '+', digits, and optionally '.' followed by
 * 1 to 4 digits ("2.501", "-0.0001", "25"). Nothing else: no spaces, exponents, or a
 * fifth decimal (a price finer than the unit is refused, not rounded). 0 and *units set;
 * -EINVAL for text that is not a price; -ERANGE when it does not fit an int64 or would be
 * INT64_MIN, the null price. *units is untouched on error. */
int tkx_price_parse(const char *s, int64_t *units);

/* Units to text with exactly 4 decimals ("2.5010", "-0.0001"); INT64_MIN (the null
 * price) as "null". Returns the length written (not counting the NUL), or -ENOSPC when
 * buf (len bytes) is too short: TKX_PRICE_TEXT_MAX always suffices. */
int tkx_price_format(int64_t units, char *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* TOKEX_PRICE_H */
