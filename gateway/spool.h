/*
 * The store-and-forward spool: a bounded, append-only log of events on
 * disk, in order, each with the gateway's sequence number.  Appends are
 * fsync'd in batches; a record torn by a crash is found on open (length
 * and CRC-32C) and cut off, never replayed.  Acknowledged records are
 * dropped a whole segment file at a time.
 *
 * Directory layout: seg-<first seq, 20 digits>.log files and "acked", the
 * highest acknowledged sequence number (written atomically by rename).
 * Record: len(4) crc(4) seq(8) payload(len), big-endian; crc covers seq
 * and payload.
 */
#ifndef XGW_SPOOL_H
#define XGW_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#define SPOOL_SEGMENT	(4u * 1024 * 1024)	/* bytes before a new segment */
#define SPOOL_RECORD_MAX (256u * 1024)

struct spool;

struct spool_stats {
	uint64_t	 next_seq;	/* the number the next append gets */
	uint64_t	 acked;		/* highest acknowledged */
	uint64_t	 records;	/* held, not yet acknowledged */
	uint64_t	 bytes;		/* on disk */
	uint64_t	 max_bytes;
	uint64_t	 refused;	/* appends refused because full */
	uint64_t	 torn;		/* bytes cut off a torn tail on open */
};

/* Opens or creates; *err gets a message on failure (returns NULL). */
struct spool	*spool_open(const char *dir, uint64_t max_bytes, char *err,
		    size_t errlen);
/*
 * Appends one event; *seq gets its number.  -1 with errno ENOSPC when full,
 * EMSGSIZE when over SPOOL_RECORD_MAX.
 */
int		 spool_append(struct spool *, const void *, size_t, uint64_t *seq);
/* Makes every append so far durable.  Called by the owner's batch timer. */
int		 spool_sync(struct spool *);
/* Everything up to and including seq has been acknowledged. */
int		 spool_ack(struct spool *, uint64_t seq);
/*
 * Reads the first record with a sequence number > after (and > acked): 1
 * and the record (the payload buffer is the spool's, valid until the next
 * call), 0 when there is none, -1 (logged) when the record cannot be read.
 * Used to send, and to resend after a reconnect.
 */
int		 spool_next(struct spool *, uint64_t after, uint64_t *seq,
		    const uint8_t **payload, size_t *len);
void		 spool_stats(const struct spool *, struct spool_stats *);
void		 spool_close(struct spool *);
/* For tests: segments roll at this size instead of SPOOL_SEGMENT. */
void		 spool_set_segment_size(struct spool *, uint64_t);
/* CRC-32C (Castagnoli), chained like zlib's crc32: start with 0. */
uint32_t	 spool_crc32c(uint32_t, const void *, size_t);

#endif
