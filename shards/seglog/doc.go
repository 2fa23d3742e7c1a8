// Package seglog is the segment log engine of the embedded shard log: one
// append-only log shared by every key (a shard), kept as segment files in
// one directory, with per-key sequences, reads by sequence and by time,
// trims and drops.
//
// # Design
//
// Every key appends to the same active segment, so that the disk sees one
// sequential stream however many keys there are. The key design choice is
// group commit: Appends, of any keys, are handed to a single writer
// goroutine, which takes in all that are queued (until about 8 MiB of
// payload), encodes them into one buffer, writes it with one positional
// write (one per segment, when it fills the active one) and, with
// Options.SyncAlways, covers it with one fsync. Concurrent appenders
// share that fsync, so throughput grows with them while each append still
// waits for the fsync covering it. The fsync runs beside the writer: the
// appends that come while it runs are written meanwhile, and their own
// fsync starts once it is done (a write is published, made readable and
// answered only after its fsync), so the disk is never idle while appends
// wait. AppendAsync lets one caller hand over its next entry while the
// last one is being written.
//
// The active segment is sealed, and a new one begun, once it holds
// Options.SegmentBytes (it exceeds that by at most one entry and its key
// frame) or is older than Options.SegmentAge. A sealed segment gets an
// index file, so that reads and Open need not scan it. A segment file is
// never rewritten: Trim and Drop are recorded in the state file, and a
// sealed segment is deleted once none of its entries is kept.
//
// # Files
//
// The directory holds NNNNNNNNNNNNNNNNNNNN.seg (a segment, its number in 20
// zero-padded digits, numbered from 1 up), NNNNNNNNNNNNNNNNNNNN.idx (the
// index of a sealed segment), state, and LOCK (flocked while a Log has the
// directory open). Names ending in .tmp are files being written;
// .seg.corrupt and .idx.corrupt are files Open set aside. Every integer is
// big-endian; every checksum is CRC-32C (Castagnoli); times are Unix
// nanoseconds.
//
// # Segment file
//
// A header, then frames to the end of the file. The header:
//
//	magic        8  "hydseg\x00\x01"
//	length       4  of the header, this and the checksum included
//	flags        4  bit 0: entry payloads are sealed (Options.AEAD)
//	number       8  the segment's number, as in its name
//	created      8  when the segment was begun
//	check length 2  0, or the key check's length when sealed
//	key check       nonce, then the AEAD's seal of "hydrant seglog key check"
//	                with the header's first 32 bytes (magic to created) as
//	                additional data
//	checksum     4  of every byte of the header before it
//
// An unsealed header is 38 bytes. A segment is created by writing its
// header to NNN.seg.tmp, fsyncing it and renaming it into place (then
// fsyncing the directory), so a segment file always begins with a whole
// header; its frames are then written through that same open file.
//
// A frame:
//
//	checksum 4  of every byte of the frame after it (length, kind, fields)
//	length   4  of the frame after this field: kind and fields (8 to
//	            33+MaxPayload+64)
//	kind     1  1: key frame, 2: entry frame
//	fields      as the kind says
//
// A key frame defines the key id of a key in this segment; it comes before
// the key's first entry in the segment, and ids are given 0, 1, 2… in the
// order keys first appear:
//
//	key id     4
//	key length 2  1 to MaxKeyLen
//	key           the key's bytes
//
// An entry frame holds one Append:
//
//	key id   4  defined by an earlier key frame of this segment
//	seq      8  the key's sequence, from 1 (or from a Trim's next)
//	time     8  Entry.Time, or the clock; never less than the key's
//	            previous entry's in the segment
//	records  4  Entry.Records
//	total    8  the key's records through this entry, trimmed ones counted
//	payload     the payload; when the segment is sealed: a random nonce,
//	            then the AEAD's seal of the payload with the key's bytes
//	            and seq (8 bytes) as additional data, the tag at the end
//
// Within a segment a key's sequences rise and its times do not fall; a
// scan stops at a frame where they do not, as at a bad checksum.
//
// # Index file
//
// The index of a sealed segment, written when it is sealed (or, when that
// failed, retried every SyncInterval, or rebuilt by Open), to
// NNN.idx.tmp, fsynced, renamed into place and the directory fsynced. Its
// head:
//
//	magic        8  "hydidx\x00\x01"
//	number       8  the segment's
//	created      8  the segment's
//	length       8  where the segment's frames end
//	keys         4  rows in the key table
//	records      4  records after it
//
// then a key table, in key id order, one row per key whose entries in the
// segment were kept when the index was written:
//
//	key length   2
//	key
//	key id       4
//	first, last  8+8  the key's first and last sequence in the segment
//	first time   8
//	last time    8
//	last total   8
//	bytes        4  of the key's entry frames in the segment
//	record start 4  the row's first record, counted in records
//	record count 4
//
// then the checksum (4) of the head and the key table, then the records,
// 32 bytes each, the rows' in turn, each locating one entry frame:
//
//	seq      8
//	time     8
//	offset   4  of the frame in the segment
//	length   4  of the frame
//	cum      4  bytes of the key's entry frames in the segment before it
//	checksum 4  of the 28 bytes before it
//
// Reads find an entry by its record, and then check its frame: a record
// only says where to look.
//
// # State file
//
// What Trim and Drop decided, which the segments cannot say; rewritten
// whole (state.tmp, fsync, rename, directory fsync) before Trim or Drop
// returns:
//
//	magic  8  "hydsta\x00\x01"
//	count  4
//	count marks, by key in byte order:
//	  key length 2
//	  key
//	  first      8  the key's first kept sequence (0 or 1: none trimmed);
//	                its next while it has no entry at or after it
//	  total      8  the key's Total at the Trim
//	  drop       8  the key's entries in segments numbered up to this
//	                belong to a key of the same name that was dropped
//	checksum 4  of every byte before it
//
// A mark that says nothing any more (nothing trimmed, and no segment up to
// its drop number left) is left out at the next write. A state file whose
// checksum fails stops Open with a *CorruptError: it cannot guess the trims.
//
// # Durability
//
// With Options.SyncAlways an Append is acknowledged only after the fsync
// covering its write: an acknowledged entry survives the crash of the
// process and of the machine. Without it an Append is acknowledged once
// written, which a crash of the process does not undo; the writer fsyncs
// every SyncInterval, before sealing a segment, and at Close.
//
// A failed write fails the Appends it held, with an error wrapping the OS
// error (ENOSPC), and is undone by truncating the segment back; the log
// goes on. A failed fsync (or a failed undo) leaves what the segment holds
// on disk unknown: the log refuses every later Append with ErrFailed until
// it is closed and opened again, which reads the segment back from disk.
//
// A roll fsyncs the active segment, creates the next one, and only then
// writes the old one's index: a crash between leaves a sealed segment
// without an index before the last, which Open indexes. Deleting a sealed
// segment removes its file first and its index second, then fsyncs the
// directory: a crash between leaves an index without a segment, which Open
// removes.
//
// # Open
//
// Open takes the directory's lock and recovers what a crash left:
//
//   - files ending in .tmp (a segment, index or state file not yet renamed
//     into place) are removed;
//   - an index whose segment is gone is removed;
//   - a sealed segment's index is read and every record of it checked;
//     when it is missing, not this segment's or corrupt anywhere, it is
//     removed and rebuilt by scanning the segment;
//   - the highest-numbered segment, unless it has a valid index, is the
//     active one (else a new one is begun): it is scanned,
//     and a torn or corrupt tail (anything after the last whole, valid
//     frame: a write a crash cut, garbage, zeros) is truncated away and the
//     truncation fsynced; appends go on after its last entry;
//   - a sealed segment whose scan stops at a bad frame is served up to that
//     frame only: a Read of a key meeting it returns a *CorruptError whose
//     Next is the key's first sequence in a later segment;
//   - a segment whose header is unreadable (bad magic, length or checksum,
//     or the wrong number), and a sealed segment without an index whose
//     scan stops at a bad frame before any entry, is renamed, with its
//     index, to .seg.corrupt and .idx.corrupt, and its entries are not
//     served; a Read meeting the gap returns a *CorruptError;
//   - sealed segments whose entries are all trimmed or dropped by the state
//     file (a crash after the state was written, before the deletes) are
//     deleted.
//
// Open checks the key check of every sealed segment: another key than
// Options.AEAD, or none, is ErrWrongKey. Segments written without a key
// stay readable after one is set.
//
// # Encryption
//
// With Options.AEAD (for example AES-256-GCM from crypto/aes and
// cipher.NewGCM) every entry payload is sealed under a fresh random nonce
// stored before it, with the key and sequence as additional data, so a
// payload moved to another entry does not open (a *CorruptError). Keys,
// sequences, times, record counts and totals stay in plaintext, in the
// segments and the indexes, as does the state file.
package seglog
