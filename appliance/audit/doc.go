// Package audit is the signer's append-only audit log: a record of every
// partial or full signature the process releases (and of what the log does
// to itself), each line chained to the one before by SHA-256, in a
// directory of rotated files.
//
// A signer opens it with [Open] (which checks it), appends with
// [Log.Append] before releasing a signature, runs [Log.Run] for
// checkpoints, retention and anchoring, and closes it with [Log.Close].
// [VerifyDir] checks a whole log offline (rampartctl audit verify).
//
// # Security
//
//   - Durable before release: Append returns only after an fsync that
//     covers its lines (a group commit shared by concurrent appenders), so a
//     released signature's record survives a power cut like the slashing
//     record before it. A write or fsync error refuses the append, and the
//     caller withholds the signature. After a failed fsync the log takes no
//     more records until the signer restarts ([ErrFailed]).
//   - The chain: each line's hash covers the previous hash and the line's
//     exact bytes, so editing, removing, reordering or inserting lines
//     breaks verification from that point, and a line must be exactly the
//     encoding the log writes. Rotated files chain through their first
//     line.
//   - The anchor: the durable head is kept in the slashing protection
//     database ([AnchorStore]); a log that ends before it (cut, emptied,
//     deleted) or disagrees with it is refused at start-up and by
//     verification. Records made durable in the last 1.25
//     Options.AnchorInterval before a crash can be cut off the end
//     undetected; none after a clean stop.
//   - Checkpoints: an HSM tag ([Tagger], the sealing key's GMAC) over the
//     head's sequence number, hash and time, after each rotation, every
//     Options.CheckpointRecords lines or Options.CheckpointInterval, and at
//     Close. Rewriting the log and recomputing its chain cannot make new
//     tags without the HSM and its PIN; the anchor names the last
//     checkpoint, so stripping them is seen too. Records after the last
//     checkpoint are covered by the chain and the anchor only.
//   - Not covered: an intruder with the HSM PIN and write access to both the
//     log and the slashing database (root on the signer) can rewrite
//     everything consistently. Shipping rotated files off the host as they
//     appear is what protects against that.
//   - Rotated files are made read-only and, with Options.Compress,
//     compressed with zstd (compress.go); a compressed copy replaces the
//     original only after it was read back and compared.
//   - Records hold only public data: request type, public keys, signing
//     roots, the authenticated client name, times; checkpoints a tag.
//   - Start-up reads the newest file back to its last checkpoint only, so
//     its time does not grow with the log; and it changes nothing in a log
//     it refuses, which stays as found for investigation.
package audit
